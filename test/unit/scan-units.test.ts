/**
 * scanUnits against an in-process fake link: how each kind of reply is
 * classified, reconnecting after a dropped link, stopping when it cannot,
 * and running every request through a bus queue when given one.
 */
import { EventEmitter } from 'node:events';
import { probeUnit, scanUnits, type UnitOutcome } from '../../gateway/cli/scan';
import {
  LinkDownError,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusRequestError,
  ModbusTimeoutError,
} from '../../gateway/links/errors';
import type { LinkState, ModbusLink } from '../../gateway/links/link';
import { BusQueue } from '../../gateway/poll/bus-queue';

type Reply = number | Error;

/** A link whose unit ids answer from a table; `reopen` decides whether open() succeeds after a drop. */
class FakeLink extends EventEmitter implements ModbusLink {
  readonly id = 'fake';
  readonly busKey = 'fake:bus';
  state: LinkState = 'up';
  opens = 0;
  readonly asked: Array<[number, string, number, number]> = [];
  constructor(
    private readonly replies: Record<number, Reply>,
    private readonly reopen: () => boolean = () => true,
  ) {
    super();
  }
  async open(): Promise<void> {
    this.opens++;
    if (!this.reopen()) throw new LinkDownError(this.id, 'cannot connect: ECONNREFUSED');
    this.state = 'up';
  }
  async close(): Promise<void> {
    this.state = 'closed';
  }
  private answer(unitId: number): number {
    if (this.state !== 'up') throw new LinkDownError(this.id, 'link is down');
    const r = this.replies[unitId] ?? new ModbusTimeoutError(`unit ${unitId}`, 200);
    if (r instanceof LinkDownError) this.state = 'down';
    if (r instanceof Error) throw r;
    return r;
  }
  async readRegisters(unitId: number, area: 'holding' | 'input', address: number, count: number): Promise<Uint16Array> {
    this.asked.push([unitId, area, address, count]);
    return Uint16Array.of(this.answer(unitId));
  }
  async readBits(unitId: number, area: 'coil' | 'discrete', address: number, count: number): Promise<boolean[]> {
    this.asked.push([unitId, area, address, count]);
    return [this.answer(unitId) !== 0];
  }
  async writeRegisters(): Promise<void> {}
  async writeCoil(): Promise<void> {}
}

const req = (from: number, to: number) => ({ from, to, area: 'holding' as const, address: 40000 });

test('classifies data, exceptions, gateway exceptions, garbled answers and silence', async () => {
  const link = new FakeLink({
    1: 7,
    2: new ModbusExceptionError(2, 'u2'),
    3: new ModbusExceptionError(11, 'u3'),
    4: new ModbusExceptionError(10, 'u4'),
    5: new ModbusProtocolError('u5', 'bad CRC'),
    7: new ModbusExceptionError(1, 'u7'),
  });
  const seen: UnitOutcome[] = [];
  const r = await scanUnits(link, req(1, 8), { onUnit: (o) => seen.push(o) });
  expect(r.found).toEqual([
    { unitId: 1, answer: 'data', words: [7] },
    { unitId: 2, answer: 'exception', exceptionCode: 2, exceptionName: 'illegal data address' },
    { unitId: 7, answer: 'exception', exceptionCode: 1, exceptionName: 'illegal function' },
  ]);
  expect(r.gatewayExceptions.map((g) => [g.unitId, g.exceptionCode])).toEqual([
    [3, 11],
    [4, 10],
  ]);
  expect(r.garbled).toEqual([{ unitId: 5, error: 'u5: bad CRC' }]);
  expect(r.silent).toEqual([6, 8]);
  expect(r.scanned).toBe(8);
  expect(seen.map((o) => o.unitId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(link.asked.every(([, area, address, count]) => area === 'holding' && address === 40000 && count === 1)).toBe(true);
});

test('a dropped link is reopened and the walk goes on', async () => {
  const link = new FakeLink({ 2: new LinkDownError('fake', 'connection reset'), 3: 9 });
  const r = await scanUnits(link, req(1, 3));
  expect(link.opens).toBe(1);
  expect(r.silent).toEqual([1, 2]);
  expect(r.found).toEqual([{ unitId: 3, answer: 'data', words: [9] }]);
  expect(r.stopped).toBeUndefined();
});

test('a link that cannot be reopened stops the walk with what was found', async () => {
  const link = new FakeLink({ 1: 5, 2: new LinkDownError('fake', 'connection reset') }, () => false);
  const r = await scanUnits(link, req(1, 10));
  expect(r.scanned).toBe(2);
  expect(r.found.map((f) => f.unitId)).toEqual([1]);
  expect(r.stopped).toMatch(/^link lost after unit 2: link fake: cannot connect: ECONNREFUSED$/);
});

test('bits are read for coil/discrete scans', async () => {
  const link = new FakeLink({ 4: 1 });
  const r = await scanUnits(link, { from: 4, to: 4, area: 'discrete', address: 0 });
  expect(r.found).toEqual([{ unitId: 4, answer: 'data', bits: [true] }]);
});

test('requests run through the bus queue when one is given', async () => {
  const link = new FakeLink({ 1: 1 });
  const queue = new BusQueue(link.busKey);
  const run = jest.spyOn(queue, 'run');
  await scanUnits(link, req(1, 3), { queue });
  expect(run).toHaveBeenCalledTimes(3);
});

test('a request the link refuses outright is not a silent unit: it is thrown', async () => {
  const link = new FakeLink({ 1: new ModbusRequestError('fake', 'address range outside 0..65535') });
  await expect(probeUnit(link, 1, 'holding', 0)).rejects.toBeInstanceOf(ModbusRequestError);
});
