/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes into the Python package, which serves it at / (see src/replaylink/api/webui.py).
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/replaylink/webui",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // No inline scripts or data: modules: the Content-Security-Policy allows scripts from 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    // The snippet test reads the README's snippet from the repository root (src/snippet.test.ts).
    fs: { allow: [".."] },
    proxy: { "/api": "http://127.0.0.1:8000", "/static": "http://127.0.0.1:8000" },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
