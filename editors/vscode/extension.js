// The Ward extension: starts `ward lsp` and connects VS Code to it.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("ward");
  const command = config.get("server.path") || "ward";
  const serverOptions = {
    run: { command, args: ["lsp"] },
    debug: { command, args: ["lsp"] },
  };
  const clientOptions = {
    documentSelector: [{ language: "ward" }],
    initializationOptions: { debounceMs: config.get("server.debounceMs") },
    synchronize: {
      // Files changed outside the editor (git checkout, another tool) are re-read.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.ward"),
    },
  };
  client = new LanguageClient("ward", "Ward", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("ward.restartServer", () => client.restart())
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
