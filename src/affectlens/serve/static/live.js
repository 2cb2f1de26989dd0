// Live page: microphone PCM (tag 0x01) and webcam JPEG frames (tag 0x02 + float64 time) over WS /v1/stream.
const ROWS = ["face", "voice", "text", "fused"], SPAN_S = 30;
let ws, ctx, media, proc, timer, samples = 0, rate = 48000;
const segments = [];
const $ = id => document.getElementById(id);

$("start").onclick = start;
$("stop").onclick = () => ws && ws.readyState === 1 && ws.send(JSON.stringify({type: "end"}));

async function start() {
  $("start").disabled = true; $("summary").textContent = ""; segments.length = 0; samples = 0; draw();
  document.querySelector("#segments tbody").innerHTML = "";
  const withCam = $("cam").checked;
  try {
    media = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: false}, video: withCam});
  } catch (e) { return fail("no microphone" + (withCam ? "/webcam" : "") + ": " + e.message); }
  ctx = new AudioContext(); rate = ctx.sampleRate;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/v1/stream?token=${encodeURIComponent(token())}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    const modalities = ["voice"].concat(withCam ? ["face"] : [], $("words").checked ? ["text"] : []);
    ws.send(JSON.stringify({sample_rate: rate, modalities}));
  };
  ws.onmessage = e => onMessage(JSON.parse(e.data));
  ws.onclose = e => { stopMedia(); $("start").disabled = false; $("stop").disabled = true;
                      if (e.code !== 1000 && !$("state").classList.contains("err")) fail("stream closed (" + e.code + ")"); };
}
function onMessage(m) {
  if (m.type === "ready") { beginCapture(); $("state").className = "muted"; $("state").textContent = "streaming…"; $("stop").disabled = false; return; }
  if (m.type === "error") return fail(m.error);
  if (m.type === "summary") {
    const s = m.analysis.summary;
    const text = s ? [...s.observations, ...s.interpretation, ...(s.conclusion ? [s.conclusion] : [])].map(x => x.text).join(" ") : "No estimates.";
    $("summary").innerHTML = `<h3>Summary</h3><p>${esc(text)}</p>`;
    $("state").textContent = `ended: ${m.analysis.segments.length} segments, ${(m.analysis.media.duration || 0).toFixed(1)} s`;
    return;
  }
  segments.push(m); addRow(m); draw();
}
function beginCapture() {
  const src = ctx.createMediaStreamSource(media);
  proc = ctx.createScriptProcessor(4096, 1, 1);
  proc.onaudioprocess = e => {
    const x = e.inputBuffer.getChannelData(0);
    const buf = new ArrayBuffer(1 + 2 * x.length), v = new DataView(buf);
    v.setUint8(0, 1);
    for (let i = 0; i < x.length; i++) v.setInt16(1 + 2 * i, Math.max(-1, Math.min(1, x[i])) * 32767, true);
    if (ws.readyState === 1) { ws.send(buf); samples += x.length; }
    draw();
  };
  src.connect(proc); proc.connect(ctx.destination);
  if (media.getVideoTracks().length) {
    const video = $("preview"); video.srcObject = media; video.hidden = false; video.play();
    const canvas = document.createElement("canvas");
    timer = setInterval(() => {
      if (!video.videoWidth || ws.readyState !== 1) return;
      const scale = Math.min(1, 320 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale); canvas.height = Math.round(video.videoHeight * scale);
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      const t = samples / rate;
      canvas.toBlob(async blob => {
        const jpeg = new Uint8Array(await blob.arrayBuffer());
        const buf = new Uint8Array(9 + jpeg.length);
        buf[0] = 2; new DataView(buf.buffer).setFloat64(1, t, true); buf.set(jpeg, 9);
        if (ws.readyState === 1) ws.send(buf.buffer);
      }, "image/jpeg", 0.7);
    }, 200);
  }
}
function stopMedia() {
  clearInterval(timer);
  if (proc) proc.disconnect();
  if (media) media.getTracks().forEach(t => t.stop());
  if (ctx) ctx.close();
  proc = media = ctx = null;
}
function fail(text) { $("state").className = "err"; $("state").textContent = text; $("start").disabled = false; }
function clock(t) { const m = Math.floor(t / 60); return `${String(m).padStart(2, "0")}:${(t - 60 * m).toFixed(1).padStart(4, "0")}`; }
function addRow(s) {
  const e = s.estimates, cell = k => e[k] ? chip(e[k].label, e[k].confidence) : "–";
  const row = document.createElement("tr");
  row.innerHTML = `<td>${clock(s.start)}–${clock(s.end)}</td><td class="kind">${esc(s.kind)}</td><td>${cell("face")}</td><td>${cell("voice")}</td>
    <td>${cell("text")}</td><td>${s.fused ? chip(s.fused.label, s.fused.confidence) : "–"}</td><td>${esc(s.text || "")}</td>`;
  const body = document.querySelector("#segments tbody");
  body.prepend(row);
  while (body.children.length > 100) body.lastChild.remove();
}
function draw() {
  const c = $("timeline"), g = c.getContext("2d");
  c.width = c.clientWidth || 1000;
  const W = c.width, H = c.height, left = 44, rowH = (H - 20) / ROWS.length;
  const now = Math.max(samples / rate, SPAN_S), t0 = now - SPAN_S, x = t => left + (t - t0) / SPAN_S * (W - left - 4);
  g.clearRect(0, 0, W, H); g.font = "12px system-ui"; g.fillStyle = "#5f6368"; g.textBaseline = "middle";
  ROWS.forEach((r, i) => g.fillText(r, 2, 4 + i * rowH + rowH / 2));
  for (const s of segments) {
    if (s.end < t0) continue;
    ROWS.forEach((r, i) => {
      const est = r === "fused" ? s.fused : s.estimates[r];
      if (!est) return;
      g.globalAlpha = 0.25 + 0.75 * est.confidence; g.fillStyle = COLORS[est.label] || "#777";
      g.fillRect(x(Math.max(s.start, t0)), 4 + i * rowH, Math.max(1, x(s.end) - x(Math.max(s.start, t0)) - 1), rowH - 3);
    });
  }
  g.globalAlpha = 1; g.fillStyle = "#5f6368";
  const step = W < 600 ? 10 : 5;
  g.textBaseline = "alphabetic";
  for (let t = Math.ceil(t0 / step) * step; t <= now; t += step) { g.fillText(t + " s", x(t) - 8, H - 3); g.fillRect(x(t), H - 18, 1, 4); }
}
window.addEventListener("resize", draw); draw();
