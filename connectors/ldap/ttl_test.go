package ldap

import (
	"testing"
	"time"
)

func TestTTLValueIsADsTimeBoundForm(t *testing.T) {
	for ttl, want := range map[time.Duration]string{
		2 * time.Hour:                      "<TTL=7200>,CN=Lee\\, Ann,OU=People,DC=corp",
		2*time.Hour + 300*time.Millisecond: "<TTL=7201>,CN=Lee\\, Ann,OU=People,DC=corp", // rounded up: never shorter than the grant
		time.Millisecond:                   "<TTL=1>,CN=Lee\\, Ann,OU=People,DC=corp",
	} {
		if got := ttlValue(`CN=Lee\, Ann,OU=People,DC=corp`, ttl); got != want {
			t.Errorf("ttlValue(%s) = %s, want %s", ttl, got, want)
		}
	}
}
