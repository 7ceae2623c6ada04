package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"
)

// Client speaks the console's JSON API (gatectl, tests): log in once, then
// call; the session cookie is kept.
type Client struct {
	Base string // http://127.0.0.1:8090
	hc   *http.Client
}

// NewClient returns a client for the console at base.
func NewClient(base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{Base: strings.TrimRight(base, "/"), hc: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

// APIError is a refusal from the console: its status and message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("console: %d %s", e.Status, e.Message) }

// Login starts a session.
func (c *Client) Login(ctx context.Context, user, password string) error {
	return c.Post(ctx, "/api/login", map[string]string{"username": user, "password": password}, nil)
}

// Get calls GET path and decodes the answer into out (if not nil).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, "GET", path, "", nil, out)
}

// Post calls POST path with in as JSON and decodes the answer into out.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	return c.do(ctx, "POST", path, "application/json", body, out)
}

// PostRaw calls POST path with body of content type ctype.
func (c *Client) PostRaw(ctx context.Context, path, ctype string, body io.Reader, out any) error {
	return c.do(ctx, "POST", path, ctype, body, out)
}

// Download copies GET path's body to w.
func (c *Client) Download(ctx context.Context, path string, w io.Writer) error {
	resp, err := c.send(ctx, "GET", path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

func (c *Client) do(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, ctype, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	return nil
}

// Stream calls GET path and returns its body to read as it comes: the live
// event stream (/api/events). Only ctx ends it; the client's timeout, meant
// for calls, would cut the stream.
func (c *Client) Stream(ctx context.Context, path string) (io.ReadCloser, error) {
	hc := *c.hc
	hc.Timeout = 0
	resp, err := c.sendWith(ctx, &hc, "GET", path, "", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) send(ctx context.Context, method, path, ctype string, body io.Reader) (*http.Response, error) {
	return c.sendWith(ctx, c.hc, method, path, ctype, body)
}

func (c *Client) sendWith(ctx context.Context, hc *http.Client, method, path, ctype string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}

// IsStatus tells whether err is the console refusing with status code.
func IsStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == code
}
