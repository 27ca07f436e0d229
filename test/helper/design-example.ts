/** The configuration example of docs/config.md, verbatim: the contract's own config, shared by the tests. */
export const DESIGN_EXAMPLE = `
version: 1
gateway:
  id: gw-1                   # default: hostname
  dataDir: ./m2m-data        # ledger, keys, secrets, flows
  currency: NOK              # ISO 4217 code or token symbol
  timezone: Europe/Oslo      # for time-of-use tariffs, DST-correct
http:
  listen: 127.0.0.1:8080     # API, WebSocket, /metrics, Node-RED at /admin
ledger:                      # defaults are the developers' to choose and justify
  commitMs: 5000             # commit cadence (money or events commit sooner)
  checkpointMs: 60000        # signed checkpoint of the ledger head
  history: off               # or { every: 1m, maxBytes: 200MB }: downsampled readings
mqtt:                        # optional uplink
  url: mqtt://127.0.0.1:1883
  topicPrefix: m2m
links:
  - { id: plant, type: modbus-tcp, host: 127.0.0.1, port: 502, timeoutMs: 1000 }
  - { id: rs485, type: modbus-rtu, path: /dev/ttyUSB0, baudRate: 9600, parity: none }
  - { id: conv,  type: rtu-over-tcp, host: 10.0.0.5, port: 4001 }
  - { id: p1,    type: dsmr-p1, path: /dev/ttyUSB1, baudRate: 115200 }
devices:
  - id: purifier-1
    link: plant
    unitId: 1
    pollMs: 1000
    account: purifier-1      # payer; default = device id (the machine pays for itself)
    profile: generic         # or a library profile: eastron-sdm630, dsmr-5 ...
    points:
      - { name: water, kind: counter, area: holding, address: 0, type: uint32, wordOrder: ABCD, scale: "1", unit: L }
      - { name: hardness, kind: gauge, area: input, address: 10, type: int16, scale: "0.1", unit: dH }
      - { name: cartridge, kind: gauge, area: holding, address: 20, type: uint16, unit: "%" }
      - { name: cycle, kind: setpoint, area: holding, address: 30, type: uint16, writable: true }
      - { name: valve, kind: switch, area: coil, address: 0, writable: true }
`;
