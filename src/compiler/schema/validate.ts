/**
 * ajv validation of maps.json against maps.schema.json, on write (`rejectc compile`) and on
 * read (`rejectc run`, `apply`, `stats`), plus the consistency checks a schema cannot state
 * (entry sizes against the layouts). Pure.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { MapsJson } from '../emit/manifest.js';
import schema from './maps.schema.json' with { type: 'json' };

let validator: ValidateFunction | undefined;

function compiled(): ValidateFunction {
  // The hex patterns run over megabytes for large rulesets: let RegExp do them (no unicode).
  validator ??= new Ajv({ allErrors: false, strict: true, unicodeRegExp: false }).compile(schema);
  return validator;
}

export type Validation = { ok: true; value: MapsJson } | { ok: false; errors: string[] };

/** Validates parsed JSON as maps.json. */
export function validateMapsJson(data: unknown): Validation {
  const validate = compiled();
  if (!validate(data)) {
    return { ok: false, errors: (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`) };
  }
  const maps = data as MapsJson;
  const errors: string[] = [];
  for (const m of maps.maps) {
    if (m.key.size !== m.keySize || m.value.size !== m.valueSize) errors.push(`/maps/${m.name}: key/value layout sizes differ from keySize/valueSize`);
    if (m.entries) {
      if (m.entries.keys.length !== m.entries.count * m.keySize * 2) errors.push(`/maps/${m.name}/entries: ${m.entries.count} keys need ${m.entries.count * m.keySize} bytes`);
      if (m.entries.values.length !== m.entries.count * m.valueSize * 2) errors.push(`/maps/${m.name}/entries: ${m.entries.count} values need ${m.entries.count * m.valueSize} bytes`);
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: maps };
}
