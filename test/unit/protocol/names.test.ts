import { describe, expect, it } from 'vitest'
import { isValidName, isValidWireName, nameError } from '../../../protocol/names.js'

describe('peer names', () => {
  it.each(['bob', 'a', '0', 'alice-laptop', 'x'.repeat(32), 'a-'])('accepts %j', (name) => {
    expect(isValidName(name)).toBe(true)
    expect(nameError(name)).toBeNull()
  })

  it.each([
    ['', /empty/],
    ['Bob', /lowercase/],
    ['-bob', /start/],
    ['bob.example', /"\."/],
    ['bob_1', /"_"/],
    ['x'.repeat(33), /33 characters/],
    ['bøb', /"ø"/],
  ])('refuses %j with a reason', (name, why) => {
    expect(isValidName(name)).toBe(false)
    expect(nameError(name)).toMatch(why)
  })

  it('allows the empty (anonymous) name only on the wire', () => {
    expect(isValidWireName('')).toBe(true)
    expect(isValidWireName('bob')).toBe(true)
    expect(isValidWireName('Bob')).toBe(false)
  })
})
