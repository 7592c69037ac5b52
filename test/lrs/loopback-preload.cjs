// Preloaded (node -r) into xapi-statements, whose app.listen(port) binds every interface: force 127.0.0.1 and a
// random port, then tell the parent test process the port over IPC. Other listen() call forms pass through.
"use strict";
const net = require("node:net");
const original = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  const numeric = typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first));
  if (!numeric || typeof args[1] === "string") return original.apply(this, args);
  const rest = args.slice(1);
  // Node's HTTP server closes an idle keep-alive socket after 5 s and undici (the tests' fetch) reuses one for 4 s:
  // a 1 s margin that a loaded machine's timers overrun, so a GET is written to a socket the LRS is closing ("other
  // side closed"). A long server timeout leaves closing idle sockets to the client.
  if ("keepAliveTimeout" in this) this.keepAliveTimeout = 65_000;
  this.once("listening", () => {
    if (process.send) process.send({ lrsPort: this.address().port });
  });
  return original.call(this, 0, "127.0.0.1", ...rest);
};
