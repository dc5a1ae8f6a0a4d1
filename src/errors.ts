/**
 * Errors that end a CLI command. The CLI maps them to exit codes:
 * - {@link UserError} (bad rules, bad arguments): exit 1.
 * - {@link EnvironmentError} (no privileges, no clang, kernel refused): exit 2.
 * Rule problems are reported as diagnostics, not thrown; these classes are for everything else.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  readonly exitCode = 1;
}

export class EnvironmentError extends Error {
  override readonly name: string = 'EnvironmentError';
  readonly exitCode = 2;
  /** One line telling the user how to fix it. */
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

/** Exit codes of the CLI contract (../shared/DESIGN.md). */
export const EXIT = { ok: 0, user: 1, environment: 2 } as const;
