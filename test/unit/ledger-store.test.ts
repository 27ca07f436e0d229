/** The LedgerStore contract run against SqliteLedger: on disk (WAL + NORMAL, WAL + FULL) and in memory. */
import { SqliteLedger } from '../../gateway/ledger/sqlite-store';
import type { LedgerStore } from '../../gateway/ledger/store';
import { ledgerContract } from './ledger-contract';
import { rmDir, tmpDir } from './ledger-fixtures';

const dirs = new Map<LedgerStore, string>();

function onDisk(synchronous: 'NORMAL' | 'FULL') {
  return {
    open(): LedgerStore {
      const dir = tmpDir();
      const store = SqliteLedger.open(dir, { synchronous });
      dirs.set(store, dir);
      return store;
    },
    dispose(store: LedgerStore): void {
      rmDir(dirs.get(store)!);
      dirs.delete(store);
    },
  };
}

ledgerContract('SqliteLedger (WAL, synchronous=NORMAL)', onDisk('NORMAL'));
ledgerContract('SqliteLedger (WAL, synchronous=FULL)', onDisk('FULL'));
ledgerContract('SqliteLedger (in memory)', { open: () => SqliteLedger.inMemory() });
