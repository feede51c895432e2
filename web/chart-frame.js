// The frame both of the page's charts draw first: the canvas cleared, the plot area boxed,
// the x axis's name under it and the y axis's name turned along its left side.

// Clears `canvas` and draws the box within `margins` ({left, right, top, bottom}, pixels) with
// the axes' names; returns the 2-D context and the plot area's width and height.
export function drawFrame(canvas, margins, xName, yName) {
  const g = canvas.getContext("2d");
  const { left, right, top, bottom } = margins;
  const w = canvas.width, h = canvas.height;
  const pw = w - left - right, ph = h - top - bottom;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#999";
  g.strokeRect(left, top, pw, ph);
  g.fillStyle = "#444";
  g.font = "12px sans-serif";
  g.textAlign = "center";
  g.fillText(xName, left + pw / 2, h - 6);
  g.save();
  g.translate(14, top + ph / 2);
  g.rotate(-Math.PI / 2);
  g.fillText(yName, 0, 0);
  g.restore();
  return { g, pw, ph };
}
