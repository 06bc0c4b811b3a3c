package images_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rwcarlsen/goexif/exif"
	"golang.org/x/image/webp"

	"inkwell/internal/images"
)

// The colours of the 3x2 grid of 16x16 blocks drawn by gridImage; red is
// top-left, the pixel whose journey the orientation tests follow. Blocks of
// 16 pixels keep JPEG's chroma subsampling from mixing neighbours.
var (
	red     = color.RGBA{0xff, 0x00, 0x00, 0xff}
	green   = color.RGBA{0x00, 0xff, 0x00, 0xff}
	blue    = color.RGBA{0x00, 0x00, 0xff, 0xff}
	yellow  = color.RGBA{0xff, 0xff, 0x00, 0xff}
	magenta = color.RGBA{0xff, 0x00, 0xff, 0xff}
	cyan    = color.RGBA{0x00, 0xff, 0xff, 0xff}
)

const gridW, gridH = 48, 32

func gridImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, gridW, gridH))
	colours := [2][3]color.RGBA{{red, green, blue}, {yellow, magenta, cyan}}
	for y := 0; y < gridH; y++ {
		for x := 0; x < gridW; x++ {
			img.SetRGBA(x, y, colours[y/16][x/16])
		}
	}
	return img
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withSegments inserts JPEG marker segments right after SOI, where
// cameras and editors put theirs.
func withSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte{}, jpg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// segment builds a JPEG marker segment; its length counts itself.
func segment(marker byte, payload []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

func app1Exif(tiff []byte) []byte {
	return segment(0xE1, append([]byte("Exif\x00\x00"), tiff...))
}

// ifdEntry is one 12-byte TIFF directory entry (little endian); value holds
// the inline value or the offset of the value.
type ifdEntry struct {
	tag, typ     uint16
	count, value uint32
}

func putIFD(b []byte, entries []ifdEntry, next uint32) {
	le := binary.LittleEndian
	le.PutUint16(b, uint16(len(entries)))
	for i, e := range entries {
		p := b[2+12*i:]
		le.PutUint16(p, e.tag)
		le.PutUint16(p[2:], e.typ)
		le.PutUint32(p[4:], e.count)
		le.PutUint32(p[8:], e.value)
	}
	le.PutUint32(b[2+12*len(entries):], next)
}

// The GPS position written by exifWithGPS: 52°31'12.34" N, 13°24'56.78" E.
var (
	gpsLat = [6]uint32{52, 1, 31, 1, 1234, 100}
	gpsLon = [6]uint32{13, 1, 24, 1, 5678, 100}
)

const (
	tagOrientation = 0x0112
	tagGPSIFD      = 0x8825
	typeASCII      = 2
	typeShort      = 3
	typeLong       = 4
	typeRational   = 5
)

// exifWithGPS builds a little-endian TIFF structure as a camera writes it:
// IFD0 with Orientation and a GPS IFD pointer, and a GPS IFD with latitude
// and longitude.
//
//	0   header: "II", 42, offset of IFD0 (8)
//	8   IFD0: 2 entries (30 bytes)
//	38  GPS IFD: 4 entries (54 bytes)
//	92  latitude: 3 rationals (24 bytes)
//	116 longitude: 3 rationals (24 bytes)
func exifWithGPS(orientation uint16) []byte {
	b := make([]byte, 140)
	copy(b, "II*\x00")
	binary.LittleEndian.PutUint32(b[4:], 8)
	putIFD(b[8:], []ifdEntry{
		{tagOrientation, typeShort, 1, uint32(orientation)},
		{tagGPSIFD, typeLong, 1, 38},
	}, 0)
	putIFD(b[38:], []ifdEntry{
		{0x0001, typeASCII, 2, 'N'}, // GPSLatitudeRef, inline "N\0"
		{0x0002, typeRational, 3, 92},
		{0x0003, typeASCII, 2, 'E'}, // GPSLongitudeRef, inline "E\0"
		{0x0004, typeRational, 3, 116},
	}, 0)
	for i, v := range gpsLat {
		binary.LittleEndian.PutUint32(b[92+4*i:], v)
	}
	for i, v := range gpsLon {
		binary.LittleEndian.PutUint32(b[116+4*i:], v)
	}
	return b
}

// exifIFD0 builds a TIFF structure with just the given IFD0 entries and next
// IFD offset, followed by extra bytes at offset 8+len(IFD0).
func exifIFD0(entries []ifdEntry, next uint32, extra []byte) []byte {
	b := make([]byte, 8+2+12*len(entries)+4)
	copy(b, "II*\x00")
	binary.LittleEndian.PutUint32(b[4:], 8)
	putIFD(b[8:], entries, next)
	return append(b, extra...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngHeaderOnly is a PNG signature, an IHDR declaring w x h 8-bit RGB, and
// IEND: no pixel data at all, so decoding it can only fail.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // bit depth, colour type RGB, compression, filter, interlace
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	return append(out, pngChunk("IEND", nil)...)
}

// withPNGChunk inserts a chunk right after IHDR (8-byte signature plus a
// 25-byte IHDR chunk).
func withPNGChunk(p, chunk []byte) []byte {
	out := append([]byte{}, p[:33]...)
	out = append(out, chunk...)
	return append(out, p[33:]...)
}

// bitWriter packs bits least significant first, as VP8L reads them.
type bitWriter struct {
	buf []byte
	n   uint
}

func (w *bitWriter) write(v uint32, bits int) {
	for i := 0; i < bits; i++ {
		if w.n%8 == 0 {
			w.buf = append(w.buf, 0)
		}
		w.buf[len(w.buf)-1] |= byte(v>>i&1) << (w.n % 8)
		w.n++
	}
}

// vp8l encodes a w x h lossless WebP bitstream of one colour: no transforms,
// no colour cache, one prefix-code group whose five codes (green, red, blue,
// alpha, distance) are each a "simple" code of a single symbol. A code of one
// symbol takes zero bits, so every pixel is that colour and the pixel data is
// empty.
func vp8l(w, h int, c color.NRGBA) []byte {
	var bw bitWriter
	bw.write(0x2f, 8) // signature
	bw.write(uint32(w-1), 14)
	bw.write(uint32(h-1), 14)
	alphaUsed := uint32(0)
	if c.A != 0xff {
		alphaUsed = 1
	}
	bw.write(alphaUsed, 1)
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // of 8 bits
		bw.write(uint32(sym), 8)
	}
	return bw.buf
}

func riffChunk(fourCC string, data []byte) []byte {
	c := append([]byte(fourCC), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func riffWebP(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

// webpWithExif is the extended format: a VP8X header announcing EXIF, the
// VP8L image, and an EXIF chunk holding secret.
func webpWithExif(w, h int, c color.NRGBA, secret string) []byte {
	x := make([]byte, 10)
	x[0] = 0x08 // EXIF flag
	if c.A != 0xff {
		x[0] |= 0x10 // alpha flag
	}
	x[4], x[5], x[6] = byte(w-1), byte((w-1)>>8), byte((w-1)>>16)
	x[7], x[8], x[9] = byte(h-1), byte((h-1)>>8), byte((h-1)>>16)
	return riffWebP(riffChunk("VP8X", x), riffChunk("VP8L", vp8l(w, h, c)), riffChunk("EXIF", []byte(secret)))
}

// near reports whether c is within tol of want in every channel, for JPEG's
// small losses.
func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(v uint32, w uint8) bool { return math.Abs(float64(int(v>>8)-int(w))) <= float64(tol) }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

func TestJPEGOrientation(t *testing.T) {
	plain := encodeJPEG(t, gridImage())
	// Where the top-left pixel (and its red block) must end up, per the EXIF
	// orientation tag's definition of the stored picture's 0th row and column.
	type corner int
	const (
		topLeft corner = iota
		topRight
		bottomRight
		bottomLeft
	)
	tests := []struct {
		name   string
		data   []byte
		w, h   int
		corner corner
	}{
		{"no exif", plain, 48, 32, topLeft},
		{"1 normal", withSegments(plain, app1Exif(exifWithGPS(1))), 48, 32, topLeft},
		{"2 mirrored", withSegments(plain, app1Exif(exifWithGPS(2))), 48, 32, topRight},
		{"3 upside down", withSegments(plain, app1Exif(exifWithGPS(3))), 48, 32, bottomRight},
		{"4 flipped", withSegments(plain, app1Exif(exifWithGPS(4))), 48, 32, bottomLeft},
		{"5 transposed", withSegments(plain, app1Exif(exifWithGPS(5))), 32, 48, topLeft},
		{"6 turned", withSegments(plain, app1Exif(exifWithGPS(6))), 32, 48, topRight},
		{"7 transversed", withSegments(plain, app1Exif(exifWithGPS(7))), 32, 48, bottomRight},
		{"8 turned back", withSegments(plain, app1Exif(exifWithGPS(8))), 32, 48, bottomLeft},
		{"9 invalid", withSegments(plain, app1Exif(exifWithGPS(9))), 48, 32, topLeft},
		{
			"6 after an xmp segment",
			withSegments(plain,
				segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>secret-xmp</x:xmpmeta>")),
				app1Exif(exifWithGPS(6))),
			32, 48, topRight,
		},
		{
			"6 after a comment",
			withSegments(plain, segment(0xFE, []byte("secret-comment")), app1Exif(exifWithGPS(6))),
			32, 48, topRight,
		},
		{
			// IFD0 -> IFD1 -> IFD0 again: goexif would follow it forever, so
			// the block is ignored, orientation and all.
			"6 in a looping ifd chain",
			withSegments(plain, app1Exif(exifIFD0(
				[]ifdEntry{{tagOrientation, typeShort, 1, 6}}, 26,
				[]byte{1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 8, 0, 0, 0}))),
			48, 32, topLeft,
		},
		{
			// 0x20000001 rationals are 8 bytes once multiplied in 32 bits;
			// goexif would then allocate 0x20000001 slices.
			"6 with an overflowing count",
			withSegments(plain, app1Exif(exifIFD0([]ifdEntry{
				{tagOrientation, typeShort, 1, 6},
				{0x010E, typeRational, 0x20000001, 8},
			}, 0, nil))),
			48, 32, topLeft,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := images.Clean(tt.data, images.DefaultLimits)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Clean: %v", err)
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 16<<20 {
				t.Errorf("Clean allocated %d bytes for a %dx%d picture", a, gridW, gridH)
			}
			if got.ContentType != "image/jpeg" || got.Width != tt.w || got.Height != tt.h {
				t.Fatalf("got %s %dx%d, want image/jpeg %dx%d", got.ContentType, got.Width, got.Height, tt.w, tt.h)
			}
			img, err := jpeg.Decode(bytes.NewReader(got.Data))
			if err != nil {
				t.Fatalf("decoding the result: %v", err)
			}
			if b := img.Bounds(); b != image.Rect(0, 0, tt.w, tt.h) {
				t.Fatalf("result bounds %v, want %dx%d", b, tt.w, tt.h)
			}
			corners := [4]image.Point{{0, 0}, {tt.w - 1, 0}, {tt.w - 1, tt.h - 1}, {0, tt.h - 1}}
			for i, p := range corners {
				isRed := near(img.At(p.X, p.Y), red, 24)
				if want := corner(i) == tt.corner; isRed != want {
					t.Errorf("pixel %v is %v; red there: %v, want %v", p, img.At(p.X, p.Y), isRed, want)
				}
			}
			for _, secret := range []string{"Exif", "secret-xmp", "secret-comment", "http://ns.adobe.com"} {
				if bytes.Contains(got.Data, []byte(secret)) {
					t.Errorf("result contains %q", secret)
				}
			}
			if _, err := exif.Decode(bytes.NewReader(got.Data)); err == nil {
				t.Error("result still has EXIF")
			}
		})
	}
}

// TestJPEGExifGPS checks the fixture itself carries what must be dropped,
// then that the result has none of it and every block where orientation 6
// puts it.
func TestJPEGExifGPS(t *testing.T) {
	tiff := exifWithGPS(6)
	data := withSegments(encodeJPEG(t, gridImage()), app1Exif(tiff))

	x, err := exif.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("fixture EXIF: %v", err)
	}
	tag, err := x.Get(exif.Orientation)
	if err != nil {
		t.Fatalf("fixture orientation: %v", err)
	}
	if o, _ := tag.Int(0); o != 6 {
		t.Fatalf("fixture orientation %d, want 6", o)
	}
	lat, lon, err := x.LatLong()
	wantLat, wantLon := 52+31/60.0+12.34/3600, 13+24/60.0+56.78/3600
	if err != nil || math.Abs(lat-wantLat) > 1e-9 || math.Abs(lon-wantLon) > 1e-9 {
		t.Fatalf("fixture GPS %v, %v (%v), want %v, %v", lat, lon, err, wantLat, wantLon)
	}

	got, err := images.Clean(data, images.DefaultLimits)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if got.ContentType != "image/jpeg" || got.Width != gridH || got.Height != gridW {
		t.Fatalf("got %s %dx%d, want image/jpeg %dx%d", got.ContentType, got.Width, got.Height, gridH, gridW)
	}
	if bytes.Contains(got.Data, []byte("Exif")) {
		t.Error(`result contains "Exif"`)
	}
	if bytes.Contains(got.Data, tiff[92:140]) {
		t.Error("result contains the GPS coordinates")
	}
	if !bytes.HasPrefix(got.Data, []byte{0xFF, 0xD8, 0xFF, 0xDB}) {
		t.Errorf("result starts % x, want SOI then DQT with no segment between", got.Data[:4])
	}

	img, err := jpeg.Decode(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatalf("decoding the result: %v", err)
	}
	// Turned 90° clockwise, the stored rows become columns read right to
	// left: the stored top row (red, green, blue) is the rightmost column.
	want := []struct {
		at     image.Point
		colour color.RGBA
	}{
		{image.Pt(31, 0), red}, // the stored top-left pixel
		{image.Pt(24, 8), red},
		{image.Pt(24, 24), green},
		{image.Pt(24, 40), blue},
		{image.Pt(8, 8), yellow},
		{image.Pt(8, 24), magenta},
		{image.Pt(8, 40), cyan},
		{image.Pt(0, 47), cyan}, // the stored bottom-right pixel
	}
	for _, w := range want {
		if c := img.At(w.at.X, w.at.Y); !near(c, w.colour, 24) {
			t.Errorf("pixel %v is %v, want about %v", w.at, c, w.colour)
		}
	}
}

func TestCleanFormats(t *testing.T) {
	grid := gridImage()
	paletted := image.NewPaletted(image.Rect(0, 0, 8, 6), color.Palette{red, green, blue})
	for i := range paletted.Pix {
		paletted.Pix[i] = uint8(i % 3)
	}
	second := image.NewPaletted(image.Rect(2, 2, 6, 5), color.Palette{cyan, magenta})
	twoFrames := func() []byte {
		var buf bytes.Buffer
		if err := gif.EncodeAll(&buf, &gif.GIF{Image: []*image.Paletted{paletted, second}, Delay: []int{10, 10}}); err != nil {
			t.Fatal(err)
		}
		// A comment extension before the first frame: the encoder writes a
		// 13-byte header and no global colour table for a zero Config.
		b := buf.Bytes()
		comment := append([]byte{0x21, 0xFE, byte(len("secret-comment"))}, "secret-comment\x00"...)
		return append(append(append([]byte{}, b[:13]...), comment...), b[13:]...)
	}()
	if g, err := gif.DecodeAll(bytes.NewReader(twoFrames)); err != nil || len(g.Image) != 2 {
		t.Fatalf("fixture GIF: %v", err)
	}

	partialFrame := func() []byte {
		var buf bytes.Buffer
		err := gif.EncodeAll(&buf, &gif.GIF{
			Image: []*image.Paletted{second}, Delay: []int{0},
			Config: image.Config{ColorModel: second.Palette, Width: 8, Height: 8},
		})
		if err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()

	pngWithText := withPNGChunk(encodePNG(t, grid), pngChunk("tEXt", []byte("Comment\x00secret-location 51.5,-0.12")))
	if _, err := png.Decode(bytes.NewReader(pngWithText)); err != nil {
		t.Fatalf("fixture PNG: %v", err)
	}

	opaque := color.NRGBA{0x12, 0x34, 0x56, 0xff}
	translucent := color.NRGBA{0x12, 0x34, 0x56, 0x80}

	tests := []struct {
		name        string
		data        []byte
		contentType string
		w, h        int
		secret      string // must not survive
		check       func(t *testing.T, img image.Image)
	}{
		{
			name: "png with text chunk", data: pngWithText,
			contentType: "image/png", w: gridW, h: gridH, secret: "secret-location",
			check: func(t *testing.T, img image.Image) {
				for _, p := range []image.Point{{0, 0}, {47, 0}, {20, 20}, {47, 31}} {
					if r, g, b, a := img.At(p.X, p.Y).RGBA(); [4]uint32{r, g, b, a} != rgba16(grid.At(p.X, p.Y)) {
						t.Errorf("pixel %v is %v, want %v", p, img.At(p.X, p.Y), grid.At(p.X, p.Y))
					}
				}
			},
		},
		{
			name: "jpeg with comment", data: withSegments(encodeJPEG(t, grid), segment(0xFE, []byte("secret-comment"))),
			contentType: "image/jpeg", w: gridW, h: gridH, secret: "secret-comment",
			check: func(t *testing.T, img image.Image) {
				if c := img.At(0, 0); !near(c, red, 24) {
					t.Errorf("pixel (0, 0) is %v, want about red", c)
				}
			},
		},
		{
			name: "gif with two frames", data: twoFrames,
			contentType: "image/gif", w: 8, h: 6, secret: "secret-comment",
			check: func(t *testing.T, img image.Image) {
				p, ok := img.(*image.Paletted)
				if !ok {
					t.Fatalf("decoded as %T", img)
				}
				for i, want := range paletted.Pix {
					x, y := i%8, i/8
					if got := p.At(x, y); rgba16(got) != rgba16(paletted.Palette[want]) {
						t.Errorf("pixel (%d, %d) is %v, want %v", x, y, got, paletted.Palette[want])
					}
				}
			},
		},
		{
			// The first frame covers part of the 8x8 logical screen; the
			// screen is kept so the picture keeps its size and placement.
			name: "gif with a partial first frame", data: partialFrame,
			contentType: "image/gif", w: 8, h: 8,
			check: func(t *testing.T, img image.Image) {
				if b := img.Bounds(); b != second.Rect {
					t.Errorf("frame bounds %v, want %v", b, second.Rect)
				}
				if c := img.At(3, 3); rgba16(c) != rgba16(cyan) {
					t.Errorf("pixel (3, 3) is %v, want %v", c, cyan)
				}
			},
		},
		{
			name: "opaque lossless webp", data: riffWebP(riffChunk("VP8L", vp8l(5, 3, opaque))),
			contentType: "image/jpeg", w: 5, h: 3,
			check: func(t *testing.T, img image.Image) {
				if c := img.At(2, 1); !near(c, color.RGBA{0x12, 0x34, 0x56, 0xff}, 6) {
					t.Errorf("pixel (2, 1) is %v, want about %v", c, opaque)
				}
			},
		},
		{
			name: "translucent lossless webp", data: riffWebP(riffChunk("VP8L", vp8l(5, 3, translucent))),
			contentType: "image/png", w: 5, h: 3,
			check: func(t *testing.T, img image.Image) {
				if c := color.NRGBAModel.Convert(img.At(4, 2)); c != translucent {
					t.Errorf("pixel (4, 2) is %v, want %v", c, translucent)
				}
			},
		},
		{
			name: "extended webp with exif", data: webpWithExif(7, 2, translucent, "secret-exif"),
			contentType: "image/png", w: 7, h: 2, secret: "secret-exif",
			check: func(t *testing.T, img image.Image) {
				if c := color.NRGBAModel.Convert(img.At(0, 0)); c != translucent {
					t.Errorf("pixel (0, 0) is %v, want %v", c, translucent)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.secret != "" && !bytes.Contains(tt.data, []byte(tt.secret)) {
				t.Fatalf("fixture lacks %q", tt.secret)
			}
			if strings.Contains(tt.name, "webp") {
				// The fixtures are hand-made bitstreams: prove them valid first.
				img, err := webp.Decode(bytes.NewReader(tt.data))
				if err != nil {
					t.Fatalf("fixture WebP: %v", err)
				}
				if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
					t.Fatalf("fixture WebP is %v, want %dx%d", b, tt.w, tt.h)
				}
			}
			got, err := images.Clean(tt.data, images.DefaultLimits)
			if err != nil {
				t.Fatalf("Clean: %v", err)
			}
			if got.ContentType != tt.contentType || got.Width != tt.w || got.Height != tt.h {
				t.Fatalf("got %s %dx%d, want %s %dx%d", got.ContentType, got.Width, got.Height, tt.contentType, tt.w, tt.h)
			}
			if tt.secret != "" && bytes.Contains(got.Data, []byte(tt.secret)) {
				t.Errorf("result contains %q", tt.secret)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(got.Data))
			if err != nil {
				t.Fatalf("result: %v", err)
			}
			if "image/"+format != tt.contentType || cfg.Width != tt.w || cfg.Height != tt.h {
				t.Errorf("result is %s %dx%d, want %s %dx%d", format, cfg.Width, cfg.Height, tt.contentType, tt.w, tt.h)
			}
			var img image.Image
			if format == "gif" {
				g, err := gif.DecodeAll(bytes.NewReader(got.Data))
				if err != nil {
					t.Fatalf("result: %v", err)
				}
				if len(g.Image) != 1 {
					t.Fatalf("result has %d frames, want 1", len(g.Image))
				}
				img = g.Image[0]
			} else if img, _, err = image.Decode(bytes.NewReader(got.Data)); err != nil {
				t.Fatalf("result: %v", err)
			}
			tt.check(t, img)
		})
	}
}

func rgba16(c color.Color) [4]uint32 {
	r, g, b, a := c.RGBA()
	return [4]uint32{r, g, b, a}
}

func TestCleanRefuses(t *testing.T) {
	small := encodePNG(t, gridImage())
	jpg := encodeJPEG(t, gridImage())
	// Cut halfway through the compressed scan, after every header.
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	truncated := jpg[:sos+(len(jpg)-sos)/2]
	if _, err := jpeg.DecodeConfig(bytes.NewReader(truncated)); err != nil {
		t.Fatalf("the truncated JPEG's header should still read: %v", err)
	}
	for _, h := range [][]byte{pngHeaderOnly(100000, 100000), pngHeaderOnly(13000, 10)} {
		// The header is valid, so only a size check can stop it before
		// decoding fails for lack of pixel data.
		if _, err := png.DecodeConfig(bytes.NewReader(h)); err != nil {
			t.Fatalf("fixture PNG header: %v", err)
		}
		if _, err := png.Decode(bytes.NewReader(h)); err == nil {
			t.Fatal("fixture PNG header decoded")
		}
	}

	tests := []struct {
		name string
		data []byte
		lim  images.Limits
		want string
	}{
		{"text", []byte("hello, this is not a picture\n"), images.DefaultLimits, "is not an image"},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), images.DefaultLimits, "is not an image"},
		{"html", []byte("<html><body><img src=x onerror=alert(1)></body></html>"), images.DefaultLimits, "is not an image"},
		{"empty", nil, images.DefaultLimits, "is empty"},
		// Zeros are no image either: the size is what is checked first.
		{"over 10 MiB", make([]byte, 10<<20+1), images.DefaultLimits, "is larger than 10 MiB"},
		{"over MaxBytes", small, images.Limits{MaxBytes: int64(len(small)) - 1}, "is larger than " + strconv.Itoa(len(small)-1) + " bytes"},
		{"over 64 KiB", make([]byte, 64<<10+1), images.Limits{MaxBytes: 64 << 10}, "is larger than 64 KiB"},
		{"100000x100000 bomb", pngHeaderOnly(100000, 100000), images.DefaultLimits, "has more than 40 megapixels"},
		{"over MaxPixels", small, images.Limits{MaxPixels: gridW*gridH - 1}, "has more than " + strconv.Itoa(gridW*gridH-1) + " pixels"},
		{"13000 wide", pngHeaderOnly(13000, 10), images.DefaultLimits, "is wider or taller than 12000 pixels"},
		{"10x13000 tall", pngHeaderOnly(10, 13000), images.DefaultLimits, "is wider or taller than 12000 pixels"},
		{"over MaxSide", small, images.Limits{MaxSide: gridW - 1}, "is wider or taller than 47 pixels"},
		{"truncated jpeg", truncated, images.DefaultLimits, "is corrupt"},
		{"truncated png", small[:len(small)-30], images.DefaultLimits, "is corrupt"},
		{"png header only", pngHeaderOnly(4, 4), images.DefaultLimits, "is corrupt"},
		{"zero-width png", pngHeaderOnly(0, 4), images.DefaultLimits, "is corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := images.Clean(tt.data, tt.lim)
			runtime.ReadMemStats(&after)
			if got != nil {
				t.Errorf("Clean returned an image: %s %dx%d", got.ContentType, got.Width, got.Height)
			}
			var p *images.Problem
			if !errors.As(err, &p) {
				t.Fatalf("Clean error %v (%T), want a *Problem", err, err)
			}
			if p.Message != tt.want || err.Error() != tt.want {
				t.Errorf("Clean: %q, want %q", p.Message, tt.want)
			}
			// A refusal decodes nothing large: the bomb would need 30 GB.
			if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
				t.Errorf("Clean allocated %d bytes to refuse it", a)
			}
		})
	}
}

func TestCleanZeroLimitsMeansDefaults(t *testing.T) {
	got, err := images.Clean(encodePNG(t, gridImage()), images.Limits{})
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if got.ContentType != "image/png" || got.Width != gridW || got.Height != gridH {
		t.Errorf("got %s %dx%d", got.ContentType, got.Width, got.Height)
	}
	if _, err := images.Clean(pngHeaderOnly(13000, 10), images.Limits{}); err == nil || err.Error() != "is wider or taller than 12000 pixels" {
		t.Errorf("Clean with zero Limits: %v, want the default side limit", err)
	}
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		contentType string
		want        bool
	}{
		{"image/jpeg", true},
		{"image/png", true},
		{"image/gif", true},
		{"image/webp", true},
		{"Image/PNG", true},
		{"image/jpeg; charset=binary", true},
		{"image/svg+xml", false},
		{"text/html", false},
		{"text/plain", false},
		{"application/octet-stream", false},
		{"image/bmp", false},
		{"image/tiff", false},
		{"image/jpg", false},
		{"image/", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := images.Allowed(tt.contentType); got != tt.want {
			t.Errorf("Allowed(%q) = %v, want %v", tt.contentType, got, tt.want)
		}
	}
}
