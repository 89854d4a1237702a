// The rear camera, and its torch where the phone has one.

/**
 * Open the rear camera into the video element.
 * @param {HTMLVideoElement} video
 * @returns {Promise<{stream: MediaStream, torch: boolean}>}
 */
export async function openCamera(video) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw Object.assign(new Error('no camera API'), { name: 'NotFoundError' });
  }
  // `ideal`, not `exact`: a phone or laptop with a single camera must still open it.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: false,
    video: { facingMode: { ideal: 'environment' }, width: { ideal: 1280 }, height: { ideal: 720 } },
  });
  video.srcObject = stream;
  await video.play();
  const [track] = stream.getVideoTracks();
  const capabilities = track.getCapabilities ? track.getCapabilities() : {};
  return { stream, torch: Boolean(capabilities.torch) };
}

/**
 * @param {MediaStream} stream
 * @param {boolean} on
 */
export function setTorch(stream, on) {
  const [track] = stream.getVideoTracks();
  return track.applyConstraints({ advanced: [{ torch: on }] });
}

/** @param {MediaStream|null} stream */
export function closeCamera(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
