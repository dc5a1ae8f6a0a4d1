/**
 * Auto-detection of the input form: an iptables-save/iptables-restore file, or a shell script
 * of iptables command lines.
 */
import type { InputForm } from './tokens.js';

/** A line iptables-restore gives meaning to: `*table`, `:CHAIN`, `COMMIT`, `[p:b] -A`, `-A`. */
const SAVE_LINE = /^(?:\*[A-Za-z]|:\S|COMMIT\b|\[[0-9]+:[0-9]+\]|-[A-Z]\s|--[a-z-]+\s)/;

/** A line that runs an iptables program: `iptables`, `/sbin/ip6tables-nft`, `sudo iptables`, `$IPT`. */
const SCRIPT_LINE = /^\s*(?:sudo\s+)?(?:\S*\/)?ip6?tables(?:-legacy|-nft)?\s|^\s*\$\{?[A-Za-z_]\w*\}?\s+-/;

/** A shell prompt before a command (`root@host:~# iptables ...`, `$ sudo ip6tables ...`). */
const PROMPTED_SCRIPT_LINE = /^\S*[#$]\s+(?:sudo\s+)?(?:\S*\/)?ip6?tables(?:-legacy|-nft)?\s/;

/**
 * Decides the form from the first line typical of either form: a save-file line (`*filter`,
 * `:INPUT ACCEPT`, `COMMIT`, `-A ...` in column 1) makes it a save file, an iptables command
 * line (`iptables ...`, `$IPT -A ...`, `root@host:~# iptables ...`) a script. Lines typical of
 * neither (prose, comments, other shell commands) are passed over. Without any typical line the
 * text is read as a save file. Works on any text.
 */
export function detectForm(text: string): InputForm {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, Math.min(end, start + 200));
    if (SAVE_LINE.test(line)) return 'save';
    if (SCRIPT_LINE.test(line) || PROMPTED_SCRIPT_LINE.test(line)) return 'script';
    start = end + 1;
  }
  return 'save';
}
