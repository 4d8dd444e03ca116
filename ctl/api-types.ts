// The API's JSON types, for the rest of ctl/. This is ctl's single import from daemon/ (the lint
// fence allows exactly this file), and it is types only: nothing of the daemon loads at run time.
export type * from '../daemon/api/schemas.js'
