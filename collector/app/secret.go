package app

import "crypto/rand"

func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
