import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "happy-dom",
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/setup.ts"],
    // happy-dom cannot load the about:blank iframe rrweb reads clean prototypes from (it falls back)
    onConsoleLog: (log) => !log.includes("Iframe page loading is disabled"),
    pool: "threads",
    maxWorkers: 2,
  },
});
