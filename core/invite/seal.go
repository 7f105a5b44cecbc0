package invite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"errors"
)

// The contractor's initial password waits for them sealed to a key that only
// the invite link's secret can recreate: jitd keeps the public half, so its
// database (or a backup of it) never holds the password in a readable form.

// keyFor derives the invite's X25519 key from the link's secret.
func keyFor(secret string) (*ecdh.PrivateKey, error) {
	seed := sha256.Sum256([]byte("jitd-invite-key-v1\n" + secret))
	return ecdh.X25519().NewPrivateKey(seed[:])
}

func aeadFor(shared, ephemeral, recipient []byte) (cipher.AEAD, error) {
	h := sha256.New()
	h.Write([]byte("jitd-invite-seal-v1\n"))
	h.Write(shared)
	h.Write(ephemeral)
	h.Write(recipient)
	block, err := aes.NewCipher(h.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts msg to the public key: ephemeral public key, nonce, ciphertext.
func seal(publicKey []byte, msg string) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(publicKey)
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return nil, err
	}
	aead, err := aeadFor(shared, eph.PublicKey().Bytes(), publicKey)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := append(eph.PublicKey().Bytes(), nonce...)
	return aead.Seal(out, nonce, []byte(msg), nil), nil
}

// open decrypts what seal made, with the link's secret.
func open(secret string, box []byte) (string, error) {
	priv, err := keyFor(secret)
	if err != nil {
		return "", err
	}
	if len(box) < 32+12 {
		return "", errors.New("sealed password is truncated")
	}
	eph, err := ecdh.X25519().NewPublicKey(box[:32])
	if err != nil {
		return "", err
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return "", err
	}
	aead, err := aeadFor(shared, box[:32], priv.PublicKey().Bytes())
	if err != nil {
		return "", err
	}
	msg, err := aead.Open(nil, box[32:32+aead.NonceSize()], box[32+aead.NonceSize():], nil)
	return string(msg), err
}
