/**
 * User and group names `-m owner` accepts without reading /etc/passwd and /etc/group (the
 * compiler does no I/O): the static ids Debian's base-passwd assigns, identical on every Debian
 * and Ubuntu system. Other names are E215 (use the number).
 */
export const STATIC_USERS: Readonly<Record<string, number>> = {
  root: 0, daemon: 1, bin: 2, sys: 3, sync: 4, games: 5, man: 6, lp: 7, mail: 8, news: 9, uucp: 10,
  proxy: 13, 'www-data': 33, backup: 34, list: 38, irc: 39, nobody: 65534,
};

export const STATIC_GROUPS: Readonly<Record<string, number>> = {
  root: 0, daemon: 1, bin: 2, sys: 3, adm: 4, tty: 5, disk: 6, lp: 7, mail: 8, news: 9, uucp: 10,
  man: 12, proxy: 13, kmem: 15, dialout: 20, fax: 21, voice: 22, cdrom: 24, floppy: 25, tape: 26,
  sudo: 27, audio: 29, dip: 30, 'www-data': 33, backup: 34, operator: 37, list: 38, irc: 39,
  src: 40, shadow: 42, utmp: 43, video: 44, sasl: 45, plugdev: 46, staff: 50, games: 60,
  users: 100, nogroup: 65534,
};
