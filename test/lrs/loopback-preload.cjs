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
  this.once("listening", () => {
    if (process.send) process.send({ lrsPort: this.address().port });
  });
  return original.call(this, 0, "127.0.0.1", ...rest);
};
