/**
 * The commented example config that `m2m-gateway init` writes. It must load
 * as it is (a test holds it to that): the active part talks to one Modbus TCP
 * device on loopback; the serial examples are commented out. Its first line
 * is a yaml-language-server modeline, so editors (VS Code's YAML extension,
 * Neovim's yamlls, ...) validate and complete it against the JSON Schema
 * shipped in the package (docs/m2m-gateway.schema.json).
 */
import { pathToFileURL } from 'node:url';
import { CURRENT_VERSION } from './schema';

/** Where the documented gateway install (README, deploy/m2m-gateway.service) puts the package. */
export const INSTALLED_PACKAGE_DIR = '/opt/m2m-gateway/lib/node_modules/m2m-gateway';

/** The JSON Schema of the config inside an installed package. */
export function schemaFileIn(packageDir: string): string {
  return `${packageDir}/docs/m2m-gateway.schema.json`;
}

/** `# yaml-language-server: $schema=<file>`; a path with white space is given as a file: URL. */
export function schemaModeline(schemaFile: string): string {
  return `# yaml-language-server: $schema=${/\s/.test(schemaFile) ? pathToFileURL(schemaFile).href : schemaFile}`;
}

/** The example config, its modeline naming `schemaFile`. */
export function exampleConfig(schemaFile: string): string {
  return `${schemaModeline(schemaFile)}\n${EXAMPLE_BODY}`;
}

const EXAMPLE_BODY = `# m2m-gateway configuration (format version ${CURRENT_VERSION}).
# Check it with: m2m-gateway config check --config m2m-gateway.yaml
# Relative paths are relative to this file's folder.
version: ${CURRENT_VERSION}

gateway:
  # id: gw-1                 # default: this machine's hostname
  dataDir: ./m2m-data        # ledger, keys, secrets and the Node-RED flows (policies)
  currency: NOK              # ISO 4217 code or a token symbol (3-12 characters A-Z, 0-9)
  timezone: Europe/Oslo      # IANA zone for time-of-use tariffs (default: the system's)

http:
  listen: 127.0.0.1:8080     # API, WebSocket stream, /metrics, Node-RED editor at /admin

ledger:                      # money, not readings: see docs/ledger.md
  commitMs: auto             # commit cadence: 1 ms per counter point, 5–30 s; events, vouchers, credit crossings at once
  history: off               # or { every: 1m, maxBytes: 200MB }: downsampled reading history

# policy:
#   hostNodes: false         # true loads Node-RED's exec/function/file/network nodes: the editor
#                            # password then runs code as the gateway's user (docs/policies.md)

# mqtt:                      # optional northbound uplink (store-and-forward)
#   url: mqtt://127.0.0.1:1883
#   topicPrefix: m2m

# A link is one physical connection. Types: modbus-tcp, modbus-rtu (RS-485),
# rtu-over-tcp (serial-to-Ethernet converter), dsmr-p1 (smart meter P1 port).
# All take timeoutMs (default 1000); serial links take baudRate, parity
# (none|even|odd), dataBits (7|8), stopBits (1|2).
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: 502 }
  # - { id: rs485, type: modbus-rtu, path: /dev/ttyUSB0, baudRate: 9600, parity: none }
  # - { id: conv, type: rtu-over-tcp, host: 192.168.1.50, port: 4001 }
  # - { id: p1, type: dsmr-p1, path: /dev/ttyUSB1, baudRate: 115200 }

devices:
  - id: purifier-1
    link: plant
    unitId: 1                # Modbus unit id 1..247
    pollMs: 1000
    account: purifier-1      # who pays for what this device consumes (default: the device id)
    profile: generic         # or a library profile: eastron-sdm630, dsmr-5
    # Points: area holding|input|coil|discrete + 0-based address, or a Modicon
    # register such as "40001" instead. type: bool, int16, uint16, int32, uint32,
    # int64, uint64, float32, float64, string(N); wordOrder ABCD (default), CDAB,
    # BADC, DCBA. value = raw x scale + offset (quoted decimals, at most 6 fraction
    # digits). kind: counter (billed on its increase), gauge, setpoint, switch.
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, wordOrder: ABCD, scale: "1", unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
      - { name: cycle, kind: setpoint, register: "40031", type: uint16, writable: true }
      - { name: valve, kind: switch, area: coil, address: 0, writable: true }

  - id: meter-1              # an energy meter from the profile library
    link: plant
    unitId: 2
    profile: eastron-sdm630  # import_kwh, export_kwh, power_w, voltage_l1..l3, current_l1..l3
    points:                  # device points add to the profile's or override them by name
      - { name: import_kwh, maxRate: "100" }

  # - id: home-meter         # a DSMR 5 smart meter: no unitId or pollMs, it pushes telegrams
  #   link: p1
  #   profile: dsmr-5        # import_t1/t2, export_t1/t2, power_import/export, gas
`;

/** The example as the documented install has it (deploy/m2m-gateway.example.yaml is this with the system data dir). */
export const EXAMPLE_CONFIG = exampleConfig(schemaFileIn(INSTALLED_PACKAGE_DIR));
