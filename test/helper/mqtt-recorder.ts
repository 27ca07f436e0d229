/**
 * Jest helper: an `mqtt` subscriber that records every message it receives
 * (topic, parsed JSON payload, retain flag), in arrival order.
 *
 *   const rec = await MqttRecorder.connect(broker.url, 'm2m/gw/#');
 *   await rec.waitFor((ms) => ms.some(...), 'what', 10_000);
 *   await rec.close();
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { waitFor } from './daemon-process';

export interface Received {
  topic: string;
  payload: Record<string, unknown>;
  retain: boolean;
}

export class MqttRecorder {
  readonly messages: Received[] = [];

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, buf, packet) => {
      let payload: Record<string, unknown>;
      try {
        payload = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
      } catch {
        payload = { unparsed: buf.toString('utf8') };
      }
      this.messages.push({ topic, payload, retain: packet.retain });
    });
  }

  /** Connect (no auto-reconnect), subscribe with QoS 1, resolve after the SUBACK. */
  static async connect(url: string, filter: string, opts: IClientOptions = {}): Promise<MqttRecorder> {
    const client = connect(url, { reconnectPeriod: 0, connectTimeout: 5000, clean: true, ...opts });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const rec = new MqttRecorder(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return rec;
  }

  /** Data messages (those with a numeric seq), in arrival order. */
  data(): Array<Received & { seq: number }> {
    return this.messages.filter((m) => typeof m.payload.seq === 'number').map((m) => ({ ...m, seq: m.payload.seq as number }));
  }

  waitFor(cond: (ms: Received[]) => boolean, what: string, timeoutMs = 15_000): Promise<true> {
    return waitFor(
      () => (cond(this.messages) ? true : undefined),
      () => `${what} (received ${this.messages.length} messages)`,
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    this.client.removeAllListeners('error');
    this.client.on('error', () => undefined);
    await this.client.endAsync(true);
  }
}
