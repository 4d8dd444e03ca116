// fastify compiles every route's request validator (Ajv) and response serializer
// (fast-json-stringify) when the app starts: generated code for some 40 schemas that an idle
// daemon keeps resident (about 3 MB), most of them for routes it never serves. These factories
// hand fastify the same compilers with the same options, but each schema is compiled on its
// route's first request (and the Ajv instance on the first compile).
// Giving fastify compiler factories marks them custom, which changes one thing: a `headers`
// schema is compiled as given instead of with lower-cased property names; no route has one.
import type { ValidatorFactory } from '@fastify/ajv-compiler'
import type { SerializerFactory } from '@fastify/fast-json-stringify-compiler'
import { requireCjs } from '../../protocol/cjs.js'

const { AjvCompiler } = requireCjs('@fastify/ajv-compiler') as typeof import('@fastify/ajv-compiler')
const { SerializerSelector } = requireCjs('@fastify/fast-json-stringify-compiler') as typeof import('@fastify/fast-json-stringify-compiler')

type ValidatorCompiler = ReturnType<ValidatorFactory>
type Validate = ReturnType<ValidatorCompiler> & { errors?: unknown; schemaEnv?: unknown }

/** fastify's Ajv validator factory, compiling each schema on first use. */
export function lazyValidatorFactory(): ValidatorFactory {
  const build = AjvCompiler()
  return ((externalSchemas: unknown, options: unknown) => {
    let compiler: ValidatorCompiler | null = null
    const compilerOf = (): ValidatorCompiler => (compiler ??= (build as (e: unknown, o: unknown) => ValidatorCompiler)(externalSchemas, options))
    return (route: Parameters<ValidatorCompiler>[0]) => {
      let fn: Validate | null = null
      const compiled = (): Validate => (fn ??= compilerOf()(route) as Validate)
      const validate = (...args: unknown[]): unknown => (compiled() as (...a: unknown[]) => unknown)(...args)
      // fastify reads these off the validator: errors after a failed call, schemaEnv before one.
      Object.defineProperties(validate, {
        errors: { get: () => compiled().errors },
        schemaEnv: { get: () => compiled().schemaEnv },
      })
      return validate
    }
  }) as unknown as ValidatorFactory
}

/** fastify's fast-json-stringify serializer factory, compiling each schema on first use. */
export function lazySerializerFactory(): SerializerFactory {
  const build = SerializerSelector()
  return (externalSchemas, options) => {
    let compiler: ReturnType<SerializerFactory> | null = null
    return (route) => {
      let fn: ((doc: unknown) => string) | null = null
      return (doc: unknown) => (fn ??= (compiler ??= build(externalSchemas, options))(route))(doc)
    }
  }
}
