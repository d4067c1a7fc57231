package event

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// every listed parameter, of every kind.
func listed() []Param {
	var all []Param
	for _, list := range [][]Param{ClickIDs, platformTags, otherParams} {
		all = append(all, list...)
	}
	return all
}

func TestLandingParamAnyCase(t *testing.T) {
	for _, p := range listed() {
		for _, k := range []string{p.Name, strings.ToUpper(p.Name), strings.ToUpper(p.Name[:1]) + p.Name[1:]} {
			got := LandingParam(k)
			if got == nil || got.Name != p.Name || !CampaignParam([]byte(k)) {
				t.Errorf("%s: %+v, want %s", k, got, p.Name)
			}
		}
	}
	for k, want := range map[string]Field{"UTM_SOURCE": UTMSource, "Utm_Medium": UTMMedium, "mtm_campaign": UTMCampaign,
		"pk_kwd": UTMTerm, "AFF": Affiliate, "ScCid": ClickID} {
		if p := LandingParam(k); p == nil || p.Field != want {
			t.Errorf("%s fills %+v, want field %s", k, p, Specs[want].Key)
		}
	}
	for k, kind := range map[string]ParamKind{"utm_id": ParamTag, "UTM_SOURCE_PLATFORM": ParamTag, "mtm_cid": ParamTag,
		"hsa_net": ParamKept, "newclid": ParamKept, "xyzbraid": ParamKept, "gad_source": ParamPlatform, "_kx": ParamPlatform,
		"ref": ParamRef, "ff_rt": ParamRecipient, "tblci": ParamClickID, "SRSLTID": ParamClickID, "ymclid": ParamClickID,
		"ndclid": ParamClickID, "s_kwcid": ParamClickID} {
		if p := LandingParam(k); p == nil || p.Kind != kind {
			t.Errorf("%s: %+v, want kind %d", k, p, kind)
		}
	}
	for k, kind := range map[string]ParamKind{"pk_vid": ParamTag, "_hsfp": ParamKept, "gad_other": ParamKept, "mc_tc": ParamKept} {
		if p := LandingParam(k); p == nil || p.Kind != kind {
			t.Errorf("%s: %+v, want kind %d", k, p, kind)
		}
	}
	for _, k := range []string{"q", "page", "session", "state", "utm", "utm_", "pk_", "value", "", strings.Repeat("a", 40) + "clid"} {
		if LandingParam(k) != nil {
			t.Errorf("%q is a campaign parameter", k)
		}
	}
	if n := testing.AllocsPerRun(100, func() { LandingParam("UTM_Campaign"); LandingParam([]byte("Xyz_clid")) }); n != 0 {
		t.Errorf("LandingParam allocates %v times", n)
	}
}

// TestShortURLKeepsEveryListedParam: a parameter the processor reads is
// never shortened away, whatever its kind (tblci and srsltid were).
func TestShortURLKeepsEveryListedParam(t *testing.T) {
	// Twenty-five page parameters of 100 bytes: none of them fits beside
	// the campaign parameter, which is as long.
	var pad []string
	for i := 0; i < 25; i++ {
		pad = append(pad, "f"+strings.Repeat("x", 2)+string(rune('a'+i))+"="+strings.Repeat("v", 95))
	}
	val := strings.Repeat("7", 95)
	for _, p := range listed() {
		for _, name := range []string{p.Name, strings.ToUpper(p.Name)} {
			in := "https://shop.example/p?" + strings.Join(pad, "&") + "&" + name + "=" + val
			got := string(AppendShortURL(nil, []byte(in), 2048))
			if !strings.HasSuffix(got, "?"+name+"="+val) && !strings.Contains(got, "&"+name+"="+val) {
				t.Errorf("%s shortened away: %.120q...", name, got)
			}
		}
	}
}

// TestSnippetKeepsEveryClickID: the snippet (sdk-js/src/core.js) has its
// own pattern for click ids, within its size budget; every click id the
// processor knows must match it, or the snippet loses that id after the
// landing page.
func TestSnippetKeepsEveryClickID(t *testing.T) {
	src, err := os.ReadFile("../../sdk-js/src/core.js")
	if err != nil {
		t.Fatal(err)
	}
	// The regular expression literal that recognises click ids: the one
	// that names braid, on a const line.
	lit := regexp.MustCompile(`(?m)^const [A-Z_]+ =\s*/(.*braid.*)/([a-z]*);$`).FindSubmatch(src)
	if lit == nil {
		t.Fatal("no click id pattern (a regular expression naming braid) in sdk-js/src/core.js")
	}
	expr := string(lit[1])
	if strings.Contains(string(lit[2]), "i") {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatalf("snippet pattern %s: %v", lit[1], err)
	}
	for _, p := range ClickIDs {
		// The snippet may lower-case the name first; the platforms send
		// their own case (ScCid).
		if !re.MatchString(p.Name) {
			t.Errorf("click id %s does not match the snippet's pattern /%s/%s", p.Name, lit[1], lit[2])
		}
	}
}
