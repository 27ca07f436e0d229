/**
 * The policy editor in a real browser (Debian chromium driven by
 * playwright-core, fresh profile): log in with the editor password, find the
 * m2m-* nodes in the palette and the default flow's tariff node on the canvas
 * with its green "v<version> active" status, and take a screenshot.
 * Set M2M_E2E_SCREENSHOT_DIR to keep the screenshot (default: a temp dir
 * removed afterwards).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Gateway } from '../../gateway/daemon/gateway';
import { packageRoot } from '../../gateway/base/package-root';
import { startTestGateway, type TestGateway } from '../helper/in-process-gateway';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const M2M_TYPES = ['m2m-tariff', 'm2m-credit-limit', 'm2m-alarm', 'm2m-offer', 'm2m-in', 'm2m-write', 'm2m-control', 'm2m-service-order'];
const TARIFF_ID = 'a1f0c0de00000010'; // "water price" in flows/default-flows.json

jest.setTimeout(60_000);

describe('policy editor in the browser', () => {
  let rig: TestGateway | undefined;
  let dir: string;
  let gw: Gateway | null = null;
  let context: BrowserContext | null = null;
  let page: Page;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run test/install-peers.sh`);
    rig = await startTestGateway({
      prefix: 'm2m-editor-e2e-',
      flows: JSON.parse(fs.readFileSync(path.join(packageRoot(), 'flows', 'default-flows.json'), 'utf8')),
      yaml: ({ port }) => `version: 1
gateway: { id: e2e, dataDir: ., timezone: Europe/Oslo }
links: [ { id: plant, type: modbus-tcp, host: 127.0.0.1, port: ${port}, timeoutMs: 500 } ]
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 1000
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
      - { name: valve, kind: switch, area: coil, address: 0, writable: true }
  # the default flows price meter-*'s import_kwh too: a glob that selects no device is a policy error (docs/policies.md)
  - id: meter-1
    link: plant
    unitId: 1
    pollMs: 1000
    points:
      - { name: import_kwh, kind: counter, area: holding, address: 100, type: uint32, scale: "0.01", unit: kWh }
`,
    });
    ({ gw, dir } = rig);
    context = await chromium.launchPersistentContext(path.join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await rig?.stop();
  });

  it('logs in with the editor password and shows the m2m nodes and the default flow', async () => {
    await page.goto(`${gw!.apiUrl}/admin/`);
    await page.locator('#node-dialog-login-username').fill('admin');
    await page.locator('#node-dialog-login-password').fill('wrong-password');
    await page.locator('#node-dialog-login-submit').click();
    await page.locator('#node-dialog-login-failed').waitFor({ state: 'visible' });

    await page.locator('#node-dialog-login-password').fill(gw!.editorPassword);
    await page.locator('#node-dialog-login-submit').click();

    for (const type of M2M_TYPES) {
      await page.locator(`.red-ui-palette-node[data-palette-type="${type}"]`).waitFor({ state: 'attached' });
    }
    const tariff = page.locator(`g.red-ui-flow-node-group[id="${TARIFF_ID}"]`);
    await tariff.waitFor({ state: 'visible' });
    await expectText(tariff.locator('.red-ui-flow-node-label'), 'water price');
    await expectText(tariff.locator('.red-ui-flow-node-status-label'), `v${gw!.policies.version} active`);

    const shotDir = process.env.M2M_E2E_SCREENSHOT_DIR ?? dir;
    fs.mkdirSync(shotDir, { recursive: true });
    const shot = path.join(shotDir, 'editor.png');
    await page.screenshot({ path: shot });
    const png = fs.readFileSync(shot);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(1280); // IHDR width
  });

  it("checks a price in the edit dialog with the compiler's rules", async () => {
    await page.locator(`g.red-ui-flow-node-group[id="${TARIFF_ID}"] .red-ui-flow-node`).dblclick();
    const price = page.locator('#node-input-price');
    await price.waitFor({ state: 'visible' });
    expect(await price.inputValue()).toBe('0.012');
    // Node-RED validates on keyup: fill, then a key press.
    const enter = async (v: string) => {
      await price.fill(v);
      await price.press('End');
    };
    await enter('abc');
    await page.locator('#node-input-price.input-error').waitFor({ state: 'attached' });
    await enter('0.02');
    await page.locator('#node-input-price:not(.input-error)').waitFor({ state: 'attached' });
    await enter('0.0000000001'); // 10 fraction digits: finer than nano-currency
    await page.locator('#node-input-price.input-error').waitFor({ state: 'attached' });
    await enter('0.02');
    await page.locator('#node-input-price:not(.input-error)').waitFor({ state: 'attached' });
    // the time-of-use band of the default flow is in the list editor
    expect(await page.locator('#node-input-tou-container .m2m-tou-days').inputValue()).toBe('mon-fri');
    await page.locator('#node-dialog-cancel').click();
    await price.waitFor({ state: 'detached' });
  });
});

/** Wait until the element's text contains `text` (Playwright's own polling; no fixed sleeps). */
async function expectText(locator: ReturnType<Page['locator']>, text: string): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'attached' });
  expect(await locator.first().textContent()).toContain(text);
}
