// Peer names a broker binds to keys: short, lowercase, DNS-label-like, so they are safe in logs,
// file names and URLs. The empty string on the wire means "anonymous".
import { MAX_NAME } from './wire.js'

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/

/** True for a valid, non-empty peer name. */
export function isValidName(name: string): boolean {
  return NAME.test(name)
}

/** True for what a REGISTER may carry in its name field: a valid name or '' (anonymous). */
export function isValidWireName(name: string): boolean {
  return name === '' || isValidName(name)
}

/** Why `name` is not a valid peer name, or null when it is. */
export function nameError(name: string): string | null {
  if (name === '') return 'name is empty'
  if (name.length > MAX_NAME) return `name is ${name.length} characters long; at most ${MAX_NAME} allowed`
  if (!/^[a-z0-9]/.test(name)) return 'name must start with a lowercase letter or digit'
  const bad = /[^a-z0-9-]/.exec(name)
  if (bad !== null) return `name contains ${JSON.stringify(bad[0])}; only a-z, 0-9 and - are allowed`
  return null
}
