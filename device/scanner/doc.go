// Package scanner reads QR and barcode scanners at the school gate: serial ones
// (UART, or USB CDC-ACM such as /dev/ttyACM0) through go.bug.st/serial, and USB HID
// "keyboard wedge" ones through Linux evdev (/dev/input/eventN).
//
// Scanners (Honeywell, Zebra, Newland, Hikvision and the generic 2D modules in gate
// boxes) send each decoded code as one burst of bytes: an optional start byte, the
// data, and a configurable terminator. The settings are programmed on the scanner
// with setup barcodes from its manual, usually in the chapters named "Prefix/Suffix",
// "Data Formatting" (terminator: CR, CRLF, TAB ...) and "Communication Interface"
// (serial 9600 8N1 by default, USB-COM, USB-HID keyboard). Opts must match them.
//
// Framing is a pure state machine (Framer) fed bytes and arrival times; Dev and HID
// run it on a reader goroutine, so the same rules apply to both interfaces:
//
//   - a frame longer than MaxLen is discarded up to the next terminator (TooLong);
//   - a frame that is not UTF-8 is dropped (InvalidUTF8);
//   - a partial frame with no byte for IdleGap is dropped (Incomplete);
//   - bytes outside an STX frame, or C0 control characters inside a frame, are
//     dropped (Garbage); TAB, EOT and FS/GS/RS/US are kept for GS1 and ISO/IEC 15434.
//
// These come back from Next as *FrameError, which is not fatal. When the port goes
// away (USB unplug: read error, hang-up, EOF, ENODEV) the driver reopens the same
// path with jittered exponential backoff between ReopenMin and ReopenMax; Next keeps
// waiting meanwhile, and bytes that arrive after reconnection are not flushed.
//
// Keyboard-wedge scanners are decoded with a US layout (both Shift keys, keypad with
// NumLock on); Enter and keypad Enter end a code. The device is grabbed with
// EVIOCGRAB so scans do not also type into the console.
//
// # Caveats
//
//   - Open discards bytes that were already buffered or arrive within about 30ms
//     (at most 300ms) of opening: a code scanned in that instant is lost, on purpose.
//   - Reopening after an unplug does not flush, and the path must come back with the
//     same name: use /dev/serial/by-id/... or /dev/input/by-id/..., not ttyACM0,
//     which the kernel may renumber.
//   - With SuffixCR or SuffixLF, a CR or LF at the start of a frame is skipped and
//     with SuffixLF a CR before the LF is stripped, so a scanner sending CRLF still
//     works; with SuffixCRLF a lone CR inside a frame makes it Garbage.
//   - A wedge scanner can only type what the US layout has: non-ASCII codes (Chinese
//     text in a health code) need the scanner's serial/USB-COM mode. Key auto-repeat
//     events are ignored (they mean the host saw the key-up late), CapsLock, AltGr and
//     Alt+keypad codes are not interpreted.
//   - Without the grab (HIDOpts.NoGrab) scans also reach the focused console or
//     window; the grab needs read access to the node (group input) but not root.
//   - Baud, parity and stop bits are not checked against the scanner: a mismatch
//     shows up as InvalidUTF8 or Garbage frames.
//   - Next returns frames in order; if nobody calls Next, the reader stops after 32
//     queued results and the kernel buffer fills, so old codes are delivered late
//     rather than lost. Callers that want only fresh scans should check Code.At.
//
// The input_event layout is from include/uapi/linux/input.h and key codes from
// include/uapi/linux/input-event-codes.h; EVIOCGRAB is _IOW('E', 0x90, int).
package scanner
