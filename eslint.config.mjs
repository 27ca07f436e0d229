// Lint: typescript-eslint's recommended rules over the product, tests and benches;
// formatting is prettier's job (`npm run format`), not the linter's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  // assembly/ is AssemblyScript (decorators on functions, i64 …): asc checks it, not typescript-eslint
  { ignores: ['build/', 'node_modules/', 'coverage/', 'flows/node_modules/', 'assembly/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['flows/**/*.js', 'test/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node, ...globals.browser, RED: 'readonly', $: 'readonly' } },
    // Node-RED's convention: `const node = this` in a node's constructor
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    languageOptions: { globals: { ...globals.jest } },
  },
);
