package pass_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"campusgate/gate/pass"
)

func Example() {
	// In production the key comes from pass.LoadPrivateKey; the gate box has
	// only the public half (pass.LoadPublicKey).
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	issuer, err := pass.NewIssuer(key, "school-2025")
	if err != nil {
		panic(err)
	}
	monday := time.Date(2025, 3, 3, 7, 0, 0, 0, time.FixedZone("CST", 8*3600))
	code, err := issuer.Issue(pass.Claims{
		Issuer:   "北京市第一实验小学",
		Subject:  "P20250017",
		Role:     pass.RolePupil,
		Health:   pass.HealthGreen,
		IssuedAt: monday,
		Expiry:   monday.Add(12 * time.Hour),
		PassID:   "a1b2c3d4e5f60718",
	})
	if err != nil {
		panic(err)
	}

	// At the gate.
	v := &pass.Verifier{Keys: &pass.Keyring{}, Revoked: &pass.Revocations{}, Skew: 2 * time.Minute}
	if err := v.Keys.Add(issuer.KeyID(), issuer.Public()); err != nil {
		panic(err)
	}
	c, err := v.Verify(code, monday.Add(30*time.Minute))
	fmt.Println(c.Subject, c.Role, c.Health, c.Issuer, c.KeyID, err)

	v.Revoked.Add(c.PassID, c.Expiry)
	_, err = v.Verify(code, monday.Add(time.Hour))
	var pe *pass.Error
	if errors.As(err, &pe) {
		fmt.Println("refused:", pe.Reason)
	}
	_, err = v.Verify(code, monday.Add(13*time.Hour))
	fmt.Println(errors.Is(err, pass.ReasonExpired), err)
	// Output:
	// P20250017 pupil green 北京市第一实验小学 school-2025 <nil>
	// refused: revoked
	// true pass: expired: pass a1b2c3d4e5f60718 expired at 2025-03-03T11:00:00Z; now 2025-03-03T12:00:00Z, skew 2m0s
}
