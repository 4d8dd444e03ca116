import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { launchArgv, launcherOf, parseShebang } from '../../../bench/launcher.js'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../../..')
const P2PD = join(ROOT, 'dist/daemon/bin.js')

describe('the #! line p2pd starts node with', () => {
  it('parses env assignments and node flags, and refuses lines that do not run node', () => {
    expect(parseShebang('#!/usr/bin/env node')).toEqual({ env: {}, nodeArgs: [] })
    expect(parseShebang('#!/usr/bin/env -S A_B=2 node --x=1 --y')).toEqual({ env: { A_B: '2' }, nodeArgs: ['--x=1', '--y'] })
    expect(() => parseShebang('#!/bin/sh')).toThrow(/not an env/)
    expect(() => parseShebang('#!/usr/bin/env -S A=1 python3')).toThrow(/does not run node/)
  })

  it('is the same line in the source and the build', async () => {
    const first = async (f: string): Promise<string> => (await readFile(f, 'utf8')).split('\n', 1)[0]!
    expect(await first(P2PD)).toBe(await first(join(ROOT, 'daemon/bin.ts')))
    expect(launcherOf(P2PD).nodeArgs).toContain('--max-semi-space-size=1')
  })

  it('starts p2pd the way the kernel runs the bin (env gets the rest of the line as one argument)', async () => {
    const line = (await readFile(P2PD, 'utf8')).split('\n', 1)[0]!
    const [interpreter, arg] = [line.slice(2, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]
    const dir = await mkdtemp(join(tmpdir(), 'p2pd-launch-'))
    try {
      const { stdout } = await run(interpreter, [arg, P2PD, '--check-config', '--state-dir', dir, '--api-socket', join(dir, 's.sock')], { env: { ...process.env, P2PD_CONFIG: '' } })
      expect(stdout).toContain('configuration is valid')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keeps the young generation small under allocation, with the settings in force', async () => {
    // A million objects that survive scavenges (as a start-up does): node's defaults grow the young generation to 32 MB on this.
    const code = `const v8=require('v8');let keep=[];for(let i=0;i<1e6;i++)keep.push({i});keep=null;
      const n=v8.getHeapSpaceStatistics().find((s)=>s.space_name==='new_space');
      console.log(JSON.stringify({newSpace:n.space_size,arenas:process.env.MALLOC_ARENA_MAX,execArgv:process.execArgv}))`
    const [cmd, ...args] = launchArgv(launcherOf(P2PD), '-e')
    const out = JSON.parse((await run(cmd!, [...args, code])).stdout) as { newSpace: number; arenas: string; execArgv: string[] }
    expect(out.arenas).toBe('2')
    expect(out.execArgv).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--v8-pool-size=1']))
    expect(out.newSpace).toBeLessThanOrEqual(3 * 1024 * 1024)
  })
})
