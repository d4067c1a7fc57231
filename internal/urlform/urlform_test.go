package urlform

import "testing"

func TestPath(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/caf%C3%A9/cr%C3%A8me", "/café/crème"},
		{"/café/crème", "/café/crème"},
		{"/caf%c3%a9/cr%C3%A8me", "/café/crème"},
		{"/%E6%97%A5%E6%9C%AC/%F0%9F%98%80", "/日本/😀"},
		{"/my%20page", "/my page"},
		{"/%41%42c", "/ABc"},
		// NFD (e and a combining accent), typed or escaped, is NFC.
		{"/cafe\u0301", "/café"},
		{"/cafe%CC%81", "/café"},
		{"/CAFE%CC%81/Cre\u0300me", "/CAFÉ/Crème"},
		{"/\u212b", "/\u00c5"}, // the ångström sign is the letter Å
		// Escapes that change the path's meaning stay, in one case.
		{"/a%2fb", "/a%2Fb"},
		{"/a%2Fb%3F%23%25", "/a%2Fb%3F%23%25"},
		{"/nul%00tab%09", "/nul%00tab%09"},
		// Not UTF-8, or not an escape: kept, hex in upper case.
		{"/latin%e9", "/latin%E9"},
		{"/cut%E2%82", "/cut%E2%82"},
		{"/cut%E2%82x", "/cut%E2%82x"},
		{"/100%", "/100%"},
		{"/100%zz", "/100%zz"},
		{"/%C3%A9%", "/é%"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Path(c.in); got != c.want {
			t.Errorf("Path(%q) = %q, want %q", c.in, got, c.want)
		}
		if again := Path(Path(c.in)); again != Path(c.in) {
			t.Errorf("Path(%q) is not stable: %q then %q", c.in, Path(c.in), again)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Path("/plain/path"); Path("/café/crème") }); n != 0 {
		t.Errorf("a path in its form already allocates %v times", n)
	}
}

func TestHost(t *testing.T) {
	cases := []struct{ in, want string }{
		{"shop.example", "shop.example"},
		{"Shop.Example.", "shop.example"},
		{"xn--caf-dma.example", "café.example"},
		{"XN--CAF-DMA.EXAMPLE", "café.example"},
		{"café.example", "café.example"},
		{"CAFÉ.example", "café.example"},
		{"cafe\u0301.example", "café.example"},
		{"xn--80akhbyknj4f.xn--p1ai", "испытание.рф"},
		{"my_host.example", "my_host.example"},
		{"MY_Host.example", "my_host.example"},
		{"127.0.0.1", "127.0.0.1"},
		{"[::1]", "[::1]"},
		{"[2001:DB8::1]", "[2001:db8::1]"},
		{"", ""},
	}
	for _, c := range cases {
		if got := Host(c.in); got != c.want {
			t.Errorf("Host(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Host("www.shop.example") }); n != 0 {
		t.Errorf("a plain host allocates %v times", n)
	}
}
