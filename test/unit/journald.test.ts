/** journald priorities: `<N>` prefixes only when the stream is the journal, N from the pino level. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import {
  forStderr,
  isJournalStream,
  journalPriorities,
  pinoLevelPriority,
  prefixLines,
  prefixPinoLine,
  SD_PRIORITY,
} from '../../gateway/base/journald';

describe('journald priorities', () => {
  test('pino levels map to sd-daemon(3) priorities', () => {
    expect([60, 50, 40, 30, 20, 10].map(pinoLevelPriority)).toEqual([2, 3, 4, 6, 7, 7]);
    expect(SD_PRIORITY.err).toBe(3);
  });

  test('a pino line gets its priority; anything else passes unchanged', () => {
    expect(prefixPinoLine('{"level":50,"time":1,"msg":"x"}\n')).toBe('<3>{"level":50,"time":1,"msg":"x"}\n');
    expect(prefixPinoLine('{"level":30,"msg":"ok"}\n')).toBe('<6>{"level":30,"msg":"ok"}\n');
    expect(prefixPinoLine('{"level":60}\n')).toBe('<2>{"level":60}\n');
    for (const other of ['plain text\n', '{"msg":"no level"}\n', '{"level":"info"}\n', '']) expect(prefixPinoLine(other)).toBe(other);
  });

  test('each line of a message gets the prefix, empty lines none', () => {
    expect(prefixLines('config error (x):\na: bad\n\nb: bad\n', 3)).toBe('<3>config error (x):\n<3>a: bad\n\n<3>b: bad\n');
  });

  describe('on a file standing in for the journal stream', () => {
    let dir: string;
    let fd: number;
    let env: NodeJS.ProcessEnv;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'm2m-journal-'));
      fd = fs.openSync(path.join(dir, 'stream'), 'w+');
      const st = fs.fstatSync(fd, { bigint: true });
      env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
    });
    afterEach(() => {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('JOURNAL_STREAM must name this very stream', () => {
      expect(isJournalStream(fd, env)).toBe(true);
      expect(isJournalStream(fd, {})).toBe(false);
      expect(isJournalStream(fd, { JOURNAL_STREAM: 'garbage' })).toBe(false);
      const other = fs.openSync(path.join(dir, 'other'), 'w');
      try {
        expect(isJournalStream(other, env)).toBe(false); // e.g. stderr redirected to a file by the unit
      } finally {
        fs.closeSync(other);
      }
      expect(forStderr('x\n', 3, {})).toBe('x\n');
    });

    test('a pino logger on the journal stream writes <N>-prefixed JSON lines', () => {
      const dest = journalPriorities(pino.destination({ dest: fd, sync: true }), fd, env);
      const log = pino({ name: 't', level: 'debug' }, dest);
      log.error('boom');
      log.warn('careful');
      log.info('fine');
      log.debug('detail');
      const lines = fs.readFileSync(path.join(dir, 'stream'), 'utf8').trim().split('\n');
      expect(lines.map((l) => l.slice(0, 3))).toEqual(['<3>', '<4>', '<6>', '<7>']);
      expect(lines.map((l) => (JSON.parse(l.slice(3)) as { msg: string }).msg)).toEqual(['boom', 'careful', 'fine', 'detail']);
    });

    test('elsewhere the destination is left as it was', () => {
      const dest = pino.destination({ dest: fd, sync: true });
      const write = dest.write;
      expect(journalPriorities(dest, fd, {}).write).toBe(write);
    });
  });
});
