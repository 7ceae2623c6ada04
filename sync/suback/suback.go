// Package suback subscribes a paho client and reads the broker's SUBACK,
// for the gate's link and campusd's ingest alike: paho reports a refused
// topic only as a code in the token's result, which a caller that checks
// the token's error alone takes for granted.
package suback

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ErrIDInUse is mochi's refusal (0x91, MQTT 5's packet identifier in use) of
// a SUBSCRIBE whose packet id is one it gave a message queued for the
// session: it keeps the two directions' ids in one space. It sends it to
// MQTT 3.1.1 clients too, and grants the subscription asked again.
var ErrIDInUse = errors.New("the broker has the packet id in use (0x91)")

// ErrStopped is returned when stop closes before the broker has answered.
var ErrStopped = errors.New("stopped before the broker answered")

// Refused names a filter the broker did not grant: MQTT 3.1.1 grants with
// 0x00–0x02 and refuses with 0x80; MQTT 5 refuses with any code from 0x80.
func Refused(codes map[string]byte) error {
	for filter, code := range codes {
		switch {
		case code == 0x91:
			return fmt.Errorf("subscribe %s: %w", filter, ErrIDInUse)
		case code >= 0x80:
			return fmt.Errorf("subscribe %s: refused by the broker (%#x)", filter, code)
		}
	}
	return nil
}

const (
	tries   = 5
	timeout = 10 * time.Second
)

// Request is a SUBSCRIBE sent, awaiting the broker's grant.
type Request struct {
	c       mqtt.Client
	filters map[string]byte
	tok     mqtt.Token
}

// Subscribe sends c's SUBSCRIBE of filters at once, with no route (the
// client's default handler gets their messages): a broker takes a client's
// packets in order, so what the client publishes after it is answered on the
// new subscription (the server's acks of a gate's first batches).
func Subscribe(c mqtt.Client, filters map[string]byte) *Request {
	return &Request{c: c, filters: filters, tok: c.SubscribeMultiple(filters, nil)}
}

// Wait waits for the broker to grant every filter. A subscription refused
// with ErrIDInUse is asked for again, up to 5 times 100 ms × try apart; any
// other refusal, no answer within 10 s or stop closing ends it with the
// error.
func (r *Request) Wait(stop <-chan struct{}) error {
	for try := 1; ; try++ {
		var err error
		select {
		case <-r.tok.Done():
			err = r.tok.Error()
			if st, ok := r.tok.(*mqtt.SubscribeToken); ok && err == nil {
				err = Refused(st.Result())
			}
		case <-stop:
			return ErrStopped
		case <-time.After(timeout):
			return fmt.Errorf("subscribe: no answer from the broker in %v", timeout)
		}
		if !errors.Is(err, ErrIDInUse) || try == tries {
			return err
		}
		select {
		case <-time.After(time.Duration(try) * 100 * time.Millisecond):
		case <-stop:
			return ErrStopped
		}
		r.tok = r.c.SubscribeMultiple(r.filters, nil)
	}
}
