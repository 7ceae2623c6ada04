// Package voice speaks the gate's recorded prompts through ALSA on a box that
// has a speaker: "请将额头靠近测温区", "体温正常，请通行", "体温异常，请到临时隔离室等候".
// The prompt files ship with the gate's package (firmware-config/sounds:
// DIR/LANG/NAME.wav); a Player plays them with alsa-utils' aplay, one at a
// time, because gated is built without cgo for the Pi and so cannot link
// alsa-lib itself.
//
// A new prompt cuts off the one playing: the next person never hears the end
// of the previous person's result. Follow turns the flow's events into
// prompts (For says which) without ever holding the flow up.
//
// Everything that can be checked before the first person is checked by New:
// aplay is there, and every prompt has a readable 16-bit PCM WAV file in every
// language spoken. Whether the ALSA device is there (a speaker plugged in, a
// card not held by another program) is only known when a prompt plays: that
// failure is logged once, with its cause, and the gate admits on in silence.
package voice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Prompt names one recorded prompt; its file is DIR/LANG/NAME.wav.
type Prompt string

// The prompts. The words of each are in firmware-config/sounds/prompts.tsv.
const (
	Scan     Prompt = "scan"     // 请重新扫码: an unreadable code, or too slow to the sensor
	Forehead Prompt = "forehead" // 请将额头靠近测温区
	Retry    Prompt = "retry"    // 请再测一次: a retest after a high reading, or a failed reading
	Pass     Prompt = "pass"     // 体温正常，请通行
	GoIn     Prompt = "go_in"    // 请通行: let in without a reading of the gate's (the guard, the school)
	Stop     Prompt = "stop"     // 禁止通行，请联系门卫
	Fever    Prompt = "fever"    // 体温异常，请到临时隔离室等候
	Guard    Prompt = "guard"    // 请稍候，门卫将为您处理
	Fault    Prompt = "fault"    // 设备故障，请联系门卫
)

// Two event outcomes that are no prompt: Silent leaves what is playing alone,
// Hush stops it.
const (
	Silent Prompt = ""
	Hush   Prompt = "-"
)

// Prompts are every recorded prompt, each with a file per language.
var Prompts = []Prompt{Scan, Forehead, Retry, Pass, GoIn, Stop, Fever, Guard, Fault}

// Languages are the recorded languages, each a directory under the prompts'.
var Languages = []string{"zh-CN", "en"}

// The causes a Player's errors name (errors.Is).
var (
	ErrNoAplay     = errors.New("aplay not found (install alsa-utils)")
	ErrNoPrompt    = errors.New("prompt file missing")
	ErrBadPrompt   = errors.New("prompt file is not a mono 16-bit PCM WAV")
	ErrNoDevice    = errors.New("ALSA device absent")
	ErrDeviceBusy  = errors.New("ALSA device busy (another program holds it)")
	ErrInterrupted = errors.New("cut off by the next prompt")
)

// Opts configure a Player.
type Opts struct {
	Device    string       // the ALSA PCM aplay -D plays to; "" = "default"
	Dir       string       // the prompts' directory, holding LANG/NAME.wav
	Languages []string     // spoken one after the other; nil = zh-CN only
	Aplay     string       // aplay's path; "" = aplay from PATH
	Logger    *slog.Logger // nil: slog.Default()
}

// Player plays one prompt at a time. Its methods are safe for concurrent use.
type Player struct {
	aplay, device string
	files         map[Prompt][]string
	log           *slog.Logger

	mu      sync.Mutex
	cur     *take  // the prompt playing; nil: none
	lastErr string // the failure last logged as a warning
}

// take is one prompt being played, in each language in turn.
type take struct {
	prompt Prompt
	seq    uint64 // the journal entry it speaks for (0: none), telling two people's results apart
	cancel context.CancelCauseFunc
	done   chan struct{}
	err    error // set before done closes
}

// New checks aplay and every prompt's file in every language of o, so that a
// broken installation is known at start-up rather than at the first person.
func New(o *Opts) (*Player, error) {
	p := &Player{aplay: o.Aplay, device: o.Device, log: o.Logger, files: map[Prompt][]string{}}
	if p.device == "" {
		p.device = "default"
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.aplay == "" {
		p.aplay = "aplay"
	}
	path, err := exec.LookPath(p.aplay)
	if err != nil {
		return nil, fmt.Errorf("voice: %w: %v", ErrNoAplay, err)
	}
	p.aplay = path
	langs := o.Languages
	if len(langs) == 0 {
		langs = []string{"zh-CN"}
	}
	var errs []error
	for _, lang := range langs {
		if st, err := os.Stat(filepath.Join(o.Dir, lang)); err != nil || !st.IsDir() {
			// One line, not one a prompt: the whole directory is elsewhere.
			errs = append(errs, fmt.Errorf("voice: no %s prompts in %s: %w (the package installs them in /usr/share/campusgate/sounds)",
				lang, o.Dir, ErrNoPrompt))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, pr := range Prompts {
		for _, lang := range langs {
			f := filepath.Join(o.Dir, lang, string(pr)+".wav")
			if err := checkWAV(f); err != nil {
				errs = append(errs, fmt.Errorf("voice: prompt %s (%s): %w", pr, lang, err))
				continue
			}
			p.files[pr] = append(p.files[pr], f)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Play plays pr and returns once it has been heard in every language, with
// ErrInterrupted when another prompt (or Stop) cut it off, or with ctx's
// error.
func (p *Player) Play(ctx context.Context, pr Prompt) error {
	t := p.start(ctx, pr, 0)
	<-t.done
	return t.err
}

// Stop silences the prompt playing, if any, and returns once aplay is gone.
func (p *Player) Stop() {
	p.mu.Lock()
	t := p.cur
	p.mu.Unlock()
	if t != nil {
		t.cancel(ErrInterrupted)
		<-t.done
	}
}

// start cuts off the prompt playing and plays pr in the background. The old
// aplay is gone before the new one opens the device: a hw: device without
// dmix takes one program at a time.
func (p *Player) start(ctx context.Context, pr Prompt, seq uint64) *take {
	ctx, cancel := context.WithCancelCause(ctx)
	t := &take{prompt: pr, seq: seq, cancel: cancel, done: make(chan struct{})}
	files, ok := p.files[pr]
	if !ok {
		t.err = fmt.Errorf("voice: no prompt %q", pr)
		cancel(nil)
		close(t.done)
		return t
	}
	p.mu.Lock()
	old := p.cur
	p.cur = t
	p.mu.Unlock()
	if old != nil {
		old.cancel(ErrInterrupted)
		<-old.done
	}
	go func() {
		defer cancel(nil)
		for _, f := range files {
			if t.err = p.run(ctx, f); t.err != nil {
				break
			}
		}
		p.mu.Lock()
		if p.cur == t {
			p.cur = nil
		}
		p.mu.Unlock()
		close(t.done)
	}()
	return t
}

// run plays one file to the end.
func (p *Player) run(ctx context.Context, file string) error {
	cmd := exec.CommandContext(ctx, p.aplay, "-q", "-D", p.device, file)
	var stderr bytes.Buffer
	cmd.Stderr = &limited{&stderr, 4096}
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err != nil {
		return explain(p.device, file, err, stderr.String())
	}
	return nil
}

// explain names the cause of aplay's failure from what it printed: alsa-lib
// reports through errno texts.
func explain(device, file string, err error, stderr string) error {
	msg := strings.TrimSpace(stderr)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:] // aplay's own line comes last, after alsa-lib's
	}
	var cause error
	switch {
	case strings.Contains(stderr, "Device or resource busy"):
		cause = ErrDeviceBusy
	case strings.Contains(stderr, "audio open error"), strings.Contains(stderr, "Unknown PCM"),
		strings.Contains(stderr, "No such device"):
		cause = ErrNoDevice
	}
	if cause == nil {
		return fmt.Errorf("voice: aplay -D %s %s: %w: %s", device, filepath.Base(file), err, msg)
	}
	return fmt.Errorf("voice: aplay -D %s %s: %w: %s", device, filepath.Base(file), cause, msg)
}

// limited keeps the first n bytes written to it and drops the rest: a
// misbehaving ALSA setup must not grow gated's memory.
type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(b []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}
