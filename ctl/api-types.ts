// The API's JSON types, for the rest of ctl/. This is ctl's single import from daemon/, and it
// is types only: nothing of the daemon is loaded at run time.
// The fence in eslint.config.js means to allow exactly this import, but its '../daemon/*' pattern
// excludes the whole api/ directory, which '!../daemon/api/schemas.js' cannot re-include
// (gitignore semantics); hence the directive until the pattern is fixed.
// eslint-disable-next-line no-restricted-imports
export type * from '../daemon/api/schemas.js'
