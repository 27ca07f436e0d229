/**
 * Jest reporter: after jest's own summary, one plain closing line
 * "N passed, N failed" (", N skipped" when any) that CI tools read in any language.
 */
class SummaryReporter {
  onRunComplete(_contexts, r) {
    const skipped = r.numPendingTests + r.numTodoTests;
    const line = `${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
    // jest prints its own summary after the reporters: write ours last, as the process ends.
    process.once('exit', () => process.stderr.write(line));
  }
}
module.exports = SummaryReporter;
