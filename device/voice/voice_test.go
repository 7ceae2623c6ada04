package voice_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"campusgate/device/voice"
	"campusgate/device/voice/voicetest"
	"campusgate/gate"
)

// The real aplay, through alsa-lib, hands ALSA exactly the WAV's samples:
// Chinese first, then English.
func TestPlayThroughALSA(t *testing.T) {
	s := voicetest.NewSink(t, false)
	p, err := voice.New(&voice.Opts{Device: "cgtest", Dir: sounds, Languages: []string{"zh-CN", "en"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Play(context.Background(), voice.Fever); err != nil {
		t.Fatal(err)
	}
	plays := s.Plays(t)
	if len(plays) != 2 {
		t.Fatalf("%d plays reached ALSA, want 2 (zh-CN, en)", len(plays))
	}
	voicetest.SamePCM(t, "zh-CN/fever.wav", plays[0], wav(t, filepath.Join(sounds, "zh-CN", "fever.wav")).Data)
	voicetest.SamePCM(t, "en/fever.wav", plays[1], wav(t, filepath.Join(sounds, "en", "fever.wav")).Data)
}

// A new prompt kills the one playing at once: the next person does not hear
// the previous person's result.
func TestNewPromptCutsOffThePlayingOne(t *testing.T) {
	s := voicetest.NewSink(t, true)
	dir, data := tones(t, 3*time.Second)
	p, err := voice.New(&voice.Opts{Device: "cgtest", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	start := time.Now()
	go func() { first <- p.Play(context.Background(), voice.Pass) }()
	s.WaitPlays(t, 1)
	time.Sleep(200 * time.Millisecond)
	second := make(chan error, 1)
	go func() { second <- p.Play(context.Background(), voice.Fever) }()
	select {
	case err := <-first:
		if !errors.Is(err, voice.ErrInterrupted) {
			t.Errorf("first prompt: %v, want ErrInterrupted", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("first prompt ended after %v: it played on", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first prompt was not cut off")
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	plays := s.Plays(t)
	if len(plays) != 2 {
		t.Fatalf("%d plays, want 2", len(plays))
	}
	if len(plays[0]) >= len(data[voice.Pass]) {
		t.Errorf("the cut-off prompt reached ALSA whole (%d bytes)", len(plays[0]))
	}
	voicetest.SamePCM(t, "the second prompt", plays[1], data[voice.Fever])
}

// Follow: a state re-emitted does not restart its prompt; the next person's
// result does; "ready", which follows every result at once, leaves it be.
func TestFollowDoesNotStutter(t *testing.T) {
	s := voicetest.NewSink(t, true)
	dir, data := tones(t, 700*time.Millisecond)
	p, err := voice.New(&voice.Opts{Device: "cgtest", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan gate.Event, 8)
	done := make(chan struct{})
	go func() { defer close(done); p.Follow(context.Background(), events) }()
	events <- gate.Event{State: gate.StateRetry}
	s.WaitPlays(t, 1)
	events <- gate.Event{State: gate.StateRetry} // the second attempt, while the first prompt plays
	events <- gate.Event{State: gate.StateMeasuring}
	events <- gate.Event{State: gate.StateAdmitted, Decision: "admit", Reason: gate.ReasonOK, Seq: 1}
	s.WaitPlays(t, 2)
	events <- gate.Event{State: gate.StateAdmitted, Decision: "admit", Reason: gate.ReasonOK, Seq: 2}
	events <- gate.Event{State: gate.StateReady}
	s.WaitPlays(t, 3)
	time.Sleep(time.Second) // the last prompt plays out
	close(events)
	<-done
	plays := s.Plays(t)
	if len(plays) != 3 {
		t.Fatalf("%d plays, want 3 (retry once, pass, pass again)", len(plays))
	}
	if len(plays[1]) >= len(data[voice.Pass]) {
		t.Errorf("the first person's pass played whole over the second's")
	}
	// The retry, cut off by the pass (or whole, on a slow machine): what reached ALSA is its beginning.
	if len(plays[0]) == 0 {
		t.Error("the retry reached ALSA empty")
	}
	voicetest.SamePCM(t, "retry", plays[0][:min(len(plays[0]), len(data[voice.Retry]))], data[voice.Retry][:min(len(plays[0]), len(data[voice.Retry]))])
	voicetest.SamePCM(t, "the second pass, with ready after it", plays[2], data[voice.Pass])
}

func TestMissingAplay(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := voice.New(&voice.Opts{Dir: sounds})
	if !errors.Is(err, voice.ErrNoAplay) || !strings.Contains(err.Error(), "alsa-utils") {
		t.Fatalf("New without aplay: %v, want ErrNoAplay naming alsa-utils", err)
	}
}

// A missing or broken prompt file is known at start-up, named with its
// language.
func TestMissingPromptFile(t *testing.T) {
	dir, _ := tones(t, 100*time.Millisecond)
	if err := os.Remove(filepath.Join(dir, "zh-CN", "fever.wav")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "zh-CN", "pass.wav"), []byte("RIFF....WAVEjunk"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := voice.New(&voice.Opts{Dir: dir, Aplay: "true"})
	if !errors.Is(err, voice.ErrNoPrompt) || !strings.Contains(err.Error(), "prompt fever (zh-CN)") || !strings.Contains(err.Error(), "fever.wav") {
		t.Errorf("New with fever.wav missing: %v", err)
	}
	if !errors.Is(err, voice.ErrBadPrompt) || !strings.Contains(err.Error(), "prompt pass (zh-CN)") {
		t.Errorf("New with pass.wav broken: %v", err)
	}
	// English was not asked for: its absence is no error.
	if _, err := voice.New(&voice.Opts{Dir: sounds, Aplay: "true", Languages: []string{"zh-CN"}}); err != nil {
		t.Errorf("New on the shipped prompts: %v", err)
	}
}

func TestDeviceAbsent(t *testing.T) {
	voicetest.NewSink(t, false)
	p, err := voice.New(&voice.Opts{Device: "nosuch", Dir: sounds})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Play(context.Background(), voice.Pass)
	if !errors.Is(err, voice.ErrNoDevice) || !strings.Contains(err.Error(), "-D nosuch") {
		t.Fatalf("Play to an absent device: %v, want ErrNoDevice naming it", err)
	}
}

// The prompts shipped: one per name in prompts.tsv and language, in the
// format the Player accepts, small, and in the words the person's screen
// shows for the same event.
func TestShippedPrompts(t *testing.T) {
	words, err := voice.Words(sounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(words) != len(voice.Prompts) {
		t.Errorf("prompts.tsv has %d prompts, voice.Prompts %d", len(words), len(voice.Prompts))
	}
	total := int64(0)
	for _, p := range voice.Prompts {
		if _, ok := words[p]; !ok {
			t.Errorf("prompt %s has no words in prompts.tsv", p)
		}
		for _, lang := range voice.Languages {
			path := filepath.Join(sounds, lang, string(p)+".wav")
			if w := wav(t, path); w.Rate != 16000 {
				t.Errorf("%s: %d Hz, want 16000", path, w.Rate)
			}
			st, _ := os.Stat(path)
			total += st.Size()
		}
	}
	if total > 1<<20 {
		t.Errorf("the prompts take %d bytes, more than 1 MiB", total)
	}
	// Each prompt's words are the screen's for the event it is spoken for,
	// or fewer of them.
	for p, screen := range map[voice.Prompt]gate.Text{
		voice.Scan:     gate.ReasonTimeout.Message(),
		voice.Forehead: gate.StatePresence.Message(),
		voice.Retry:    gate.StateRetry.Message(),
		voice.Pass:     gate.StateAdmitted.Message(),
		voice.GoIn:     gate.ReasonRemoteOpen.Message(),
		voice.Stop:     gate.StateDenied.Message(),
		voice.Fever:    gate.ReasonFever.Message(),
		voice.Guard:    gate.StateReferred.Message(),
		voice.Fault:    gate.StateFault.Message(),
	} {
		if zh := words[p]["zh-CN"]; !strings.Contains(screen.ZH, zh) && !strings.Contains(zh, screen.ZH) {
			t.Errorf("prompt %s says %q, the screen %q", p, zh, screen.ZH)
		}
	}
}
