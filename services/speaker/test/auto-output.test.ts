import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@sightline/kit';
import { loadSpeakerConfig, resolveOutput } from '../src/index.ts';
import { startPulseServer } from './pulse-server.ts';

function quietLogger() {
  const lines: string[] = [];
  const logger = createLogger('speaker', 'info', { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

test('output auto plays on PulseAudio when a server answers', async (t) => {
  const pulse = await startPulseServer(t);
  const { logger } = quietLogger();
  const config = loadSpeakerConfig({ SIGHTLINE_SPEAKER_PULSE_SERVER: pulse.server }, '/srv');
  assert.equal((await resolveOutput(config, logger, pulse.env)).output, 'pulse');
});

test('output auto falls back to WAV files, and says so, when no server answers; an explicit output is kept', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sightline-auto-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { logger, lines } = quietLogger();
  const nowhere = `unix:${path.join(dir, 'no-such-socket')}`;
  const config = loadSpeakerConfig({ SIGHTLINE_SPEAKER_PULSE_SERVER: nowhere }, '/srv');
  const resolved = await resolveOutput(config, logger, { PATH: process.env.PATH, HOME: dir, XDG_RUNTIME_DIR: dir });
  assert.equal(resolved.output, 'file');
  assert.match(lines.join(''), /no PulseAudio server answers, writing each announcement as a WAV file/);
  const explicit = loadSpeakerConfig({ SIGHTLINE_SPEAKER_OUTPUT: 'pulse', SIGHTLINE_SPEAKER_PULSE_SERVER: nowhere }, '/srv');
  assert.equal((await resolveOutput(explicit, logger)).output, 'pulse');
});
