package voice

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Words are what each prompt says, by language: DIR/prompts.tsv, the file
// the recordings were made from (firmware-config/sounds/generate.sh).
func Words(dir string) (map[Prompt]map[string]string, error) {
	path := filepath.Join(dir, "prompts.tsv")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("voice: %w", err)
	}
	defer f.Close()
	words := map[Prompt]map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		col := strings.Split(l, "\t")
		if len(col) != 1+len(Languages) {
			return nil, fmt.Errorf("voice: %s:%d: want a name and the words in %s, tab-separated", path, n, strings.Join(Languages, ", "))
		}
		w := map[string]string{}
		for i, lang := range Languages {
			w[lang] = col[1+i]
		}
		words[Prompt(col[0])] = w
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("voice: %s: %w", path, err)
	}
	return words, nil
}
