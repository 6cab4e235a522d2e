import type { Caller } from './caller.js'

/**
 * Who a caller is, as one string stored with what it starts (an upload session): `user:alice`,
 * `robot:ci`, `anonymous`, `system:gc`. A token Wharf issued is its subject (a user pushing with
 * Basic credentials and then with a token is the same); an external issuer's token is `bearer:<sub>`.
 */
export function callerIdentity(caller: Caller): string {
  switch (caller.kind) {
    case 'anonymous': return 'anonymous'
    case 'system': return `system:${caller.job}`
    case 'user': return `user:${caller.name}`
    case 'robot': return `robot:${caller.name}`
    case 'bearer': return caller.subject !== undefined ? callerIdentity(caller.subject) : `bearer:${caller.name}`
  }
}
