// The few typebox builders the API's schemas use, with typebox's signatures (so Static<> types
// still follow the schemas) and typebox's JSON Schema output, but without loading typebox at
// run time: typebox and its compiler cost the daemon about 10 MB of RSS for some 30 schemas that
// are plain JSON. Requests are checked by fastify's own Ajv (app.ts), without type coercion.
import type { Type as TypeBox } from 'typebox'

type Opts = Record<string, unknown>
type Schema = Record<string, unknown>
// typebox's mark of an optional property (not enumerable: JSON and the validator never see it).
const OPTIONAL = '~optional'

const optional = (s: Schema): Schema => Object.defineProperty({ ...s }, OPTIONAL, { value: true, enumerable: false, configurable: true, writable: true })

function object(properties: Record<string, Schema>, opts: Opts = {}): Schema {
  const required = Object.keys(properties).filter((k) => properties[k]![OPTIONAL] !== true)
  return { type: 'object', ...(required.length > 0 ? { required } : {}), properties, ...opts }
}

/** typebox's Type, for the builders the API uses. */
export const Type = {
  String: ((opts: Opts = {}) => ({ type: 'string', ...opts })) as typeof TypeBox.String,
  Integer: ((opts: Opts = {}) => ({ type: 'integer', ...opts })) as typeof TypeBox.Integer,
  Number: ((opts: Opts = {}) => ({ type: 'number', ...opts })) as typeof TypeBox.Number,
  Boolean: ((opts: Opts = {}) => ({ type: 'boolean', ...opts })) as typeof TypeBox.Boolean,
  Null: ((opts: Opts = {}) => ({ type: 'null', ...opts })) as typeof TypeBox.Null,
  Literal: ((value: string | number | boolean, opts: Opts = {}) => ({ type: typeof value, const: value, ...opts })) as typeof TypeBox.Literal,
  Union: ((anyOf: Schema[], opts: Opts = {}) => ({ anyOf, ...opts })) as unknown as typeof TypeBox.Union,
  Array: ((items: Schema, opts: Opts = {}) => ({ type: 'array', items, ...opts })) as typeof TypeBox.Array,
  Record: ((_key: Schema, value: Schema, opts: Opts = {}) => ({ type: 'object', patternProperties: { '^.*$': value }, ...opts })) as unknown as typeof TypeBox.Record,
  Object: object as unknown as typeof TypeBox.Object,
  Optional: optional as unknown as typeof TypeBox.Optional,
}
