package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"campusgate/device/voice"
	firmwareconfig "campusgate/firmware-config"
	"campusgate/gate"
)

// hwVoice plays the prompts one after the other, saying which and its
// words, so that whoever stands at the box hears whether the speaker, the
// device name and the files are right before gated is told to speak.
func hwVoice(ctx context.Context, e *env, args []string) error {
	def := gate.DefaultConfig().Voice
	fset := e.flags("hw voice")
	device := fset.String("device", def.Device, "ALSA PCM to play to (aplay -L lists them)")
	dir := fset.String("dir", def.Dir, "the prompts' directory (LANG/NAME.wav)")
	language := fset.String("language", "zh-CN+en", "zh-CN, en or zh-CN+en")
	only := fset.String("prompt", "", "play only this prompt ("+joinPrompts()+")")
	cfgPath := fset.String("config", "", "take device, dir and language from this gated.toml's [voice]")
	simulate := fset.Bool("simulate", false, "play to ALSA's null device: the files and aplay are checked, nothing is heard")
	if err := parse(fset, args); err != nil {
		return err
	}
	if *cfgPath != "" {
		c, err := gate.LoadConfigWith(*cfgPath, firmwareconfig.Apply)
		if err != nil {
			return err
		}
		if !c.Voice.Enabled {
			fmt.Fprintf(e.out, "%s: [voice] is off (enabled = false): gated will not speak\n", *cfgPath)
		}
		*device, *dir, *language = c.Voice.Device, c.Voice.Dir, c.Voice.Language
	}
	if *simulate {
		*device = "null"
	}
	if abs, err := filepath.Abs(*dir); err == nil { // a relative -dir is the shell's, unlike gated.toml's
		*dir = abs
	}
	prompts := voice.Prompts
	if *only != "" {
		if !slices.Contains(voice.Prompts, voice.Prompt(*only)) {
			fmt.Fprintf(e.errw, "gatectl hw voice: unknown prompt %q (%s)\n", *only, joinPrompts())
			return errUsage
		}
		prompts = []voice.Prompt{voice.Prompt(*only)}
	}
	// Checked as gated checks [voice]: a bad language or device is refused
	// with the key's words.
	vc := gate.VoiceConfig{Device: *device, Dir: *dir, Language: *language}
	if err := vc.Check(); err != nil {
		fmt.Fprintf(e.errw, "gatectl hw voice: %v\n", err)
		return errUsage
	}
	words, err := voice.Words(*dir)
	if err != nil {
		words = nil // the words are for the listener only; the files are what plays
	}
	for _, lang := range vc.Languages() {
		p, err := voice.New(&voice.Opts{Device: *device, Dir: *dir, Languages: []string{lang}, Logger: e.log})
		if err != nil {
			return err
		}
		for _, pr := range prompts {
			fmt.Fprintf(e.out, "%-5s %-8s %s\n", lang, pr, words[pr][lang])
			if err := p.Play(ctx, pr); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(e.out, "%d prompts played on %s\n", len(prompts)*len(vc.Languages()), *device)
	return nil
}

func joinPrompts() string {
	s := make([]string, len(voice.Prompts))
	for i, p := range voice.Prompts {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
