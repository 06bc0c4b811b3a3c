// Package images verifies an uploaded image and re-encodes it without
// metadata before a server stores or serves it.
//
// Nothing about an upload is trusted: the format is sniffed from its bytes,
// its size and dimensions are bounded before any pixel is decoded, and what
// is kept is a fresh encoding of the decoded pixels, so EXIF (with GPS),
// XMP, comments, text chunks and anything appended to the file are gone.
package images

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"mime"

	"github.com/rwcarlsen/goexif/exif"

	// Registered for image.DecodeConfig and image.Decode; encoding WebP is not
	// needed since it is stored as JPEG or PNG.
	_ "golang.org/x/image/webp"
)

// Limits bound what Clean accepts.
type Limits struct {
	MaxBytes  int64 // largest upload accepted, in bytes
	MaxPixels int64 // largest width*height accepted (checked from the header, before decoding)
	MaxSide   int   // largest width or height accepted
}

// DefaultLimits: 10 MiB, 40 megapixels, 12000 pixels a side.
// Clean uses these values for any field of its Limits that is zero or negative.
var DefaultLimits = Limits{MaxBytes: 10 << 20, MaxPixels: 40_000_000, MaxSide: 12_000}

// withDefaults fills unset fields from DefaultLimits, so a zero Limits means
// the defaults rather than refusing everything or accepting anything.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultLimits.MaxPixels
	}
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultLimits.MaxSide
	}
	return l
}

// Content types of uploads and of cleaned images.
const (
	typeJPEG = "image/jpeg"
	typePNG  = "image/png"
	typeGIF  = "image/gif"
	typeWebP = "image/webp"
)

// jpegQuality is what cleaned JPEGs are encoded with: visually lossless for
// photos, and well below the size of most camera originals.
const jpegQuality = 90

// Allowed reports whether contentType is one a client may declare for an upload:
// image/jpeg, image/png, image/gif, image/webp. Case and parameters are
// ignored ("Image/PNG; charset=binary" is allowed). It only screens the
// declaration; Clean decides by the content.
func Allowed(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case typeJPEG, typePNG, typeGIF, typeWebP:
		return true
	}
	return false
}

// Image is a verified image, re-encoded without metadata.
type Image struct {
	Data          []byte
	ContentType   string // of Data: image/jpeg, image/png or image/gif
	Width, Height int    // of Data (after applying the EXIF orientation)
}

// Problem is why an upload was refused; its message is meant for the client
// (short, lower case, no trailing period), e.g. "is not an image",
// "is larger than 10 MiB", "has more than 40 megapixels".
type Problem struct{ Message string }

// Error returns the message for the client.
func (p *Problem) Error() string { return p.Message }

func problem(format string, args ...any) *Problem {
	return &Problem{Message: fmt.Sprintf(format, args...)}
}

// Clean checks data by its content (never by a declared type or file name), and returns it
// re-encoded: JPEG stays JPEG (quality 90), PNG stays PNG, GIF is stored as its first frame
// (GIF), WebP becomes JPEG when opaque and PNG otherwise. Re-encoding drops every metadata
// block (EXIF, GPS, XMP, comments, text chunks). A JPEG's EXIF orientation (1-8) is applied
// to the pixels first so the picture still shows the right way up.
//
// It returns a *Problem for anything the client did wrong: not an image or an
// unsupported format, too many bytes, too many pixels or too large a side,
// corrupt data. The byte size is checked first and the dimensions from the
// header before any pixel is decoded, so a decompression bomb (a tiny file
// declaring a huge image) is refused without allocating its pixels. Any other
// error is the server's.
func Clean(data []byte, lim Limits) (*Image, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, problem("is larger than %s", byteSize(lim.MaxBytes))
	}
	if len(data) == 0 {
		return nil, problem("is empty")
	}

	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case errors.Is(err, image.ErrFormat):
		return nil, problem("is not an image")
	case err != nil:
		return nil, problem("is corrupt")
	}
	// Other packages of the program may register more decoders (BMP, TIFF...);
	// they are not offered to clients.
	switch format {
	case "jpeg", "png", "gif", "webp":
	default:
		return nil, problem("is not a jpeg, png, gif or webp image")
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, problem("is corrupt")
	}
	// Pixels before sides: a bomb is usually both, and its pixel count is
	// the more telling reason.
	if int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return nil, problem("has more than %s", pixelCount(lim.MaxPixels))
	}
	if cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide {
		return nil, problem("is wider or taller than %d pixels", lim.MaxSide)
	}

	// Only the first frame of a GIF is decoded (image.Decode stops there).
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, problem("is corrupt")
	}

	var buf bytes.Buffer
	out := &Image{}
	switch format {
	case "jpeg":
		img = orient(img, jpegOrientation(data))
		out.ContentType = typeJPEG
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
	case "png":
		out.ContentType = typePNG
		err = png.Encode(&buf, img)
	case "gif":
		p, ok := img.(*image.Paletted)
		if !ok {
			return nil, fmt.Errorf("images: gif decoded as %T", img)
		}
		// The first frame may cover only part of the logical screen; keeping the
		// screen size keeps the picture as it was shown.
		out.ContentType = typeGIF
		err = gif.EncodeAll(&buf, &gif.GIF{
			Image:  []*image.Paletted{p},
			Delay:  []int{0},
			Config: image.Config{ColorModel: p.Palette, Width: cfg.Width, Height: cfg.Height},
		})
	case "webp":
		// Browsers all show JPEG and PNG; JPEG is far smaller for photos but
		// has no alpha channel.
		if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
			out.ContentType = typeJPEG
			err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality})
		} else {
			out.ContentType = typePNG
			err = png.Encode(&buf, img)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("images: encode %s: %w", out.ContentType, err)
	}

	out.Data = buf.Bytes()
	out.Width, out.Height = img.Bounds().Dx(), img.Bounds().Dy()
	if format == "gif" {
		out.Width, out.Height = cfg.Width, cfg.Height
	}
	return out, nil
}

// byteSize says n in the largest binary unit that divides it.
func byteSize(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n == 1:
		return "1 byte"
	}
	return fmt.Sprintf("%d bytes", n)
}

// pixelCount says n in megapixels when it is a whole number of them.
func pixelCount(n int64) string {
	switch {
	case n == 1_000_000:
		return "1 megapixel"
	case n%1_000_000 == 0:
		return fmt.Sprintf("%d megapixels", n/1_000_000)
	case n == 1:
		return "1 pixel"
	}
	return fmt.Sprintf("%d pixels", n)
}

// jpegOrientation returns the EXIF orientation (1-8) of a JPEG, or 1 when it
// has none or it cannot be read: a broken EXIF block is no reason to refuse
// a picture whose pixels decode, since the block is dropped anyway.
func jpegOrientation(data []byte) (o int) {
	tiff := exifTIFF(data)
	if tiff == nil || !exifSafe(tiff) {
		return 1
	}
	// goexif is old and parses untrusted bytes; a panic in it costs only the
	// orientation.
	defer func() {
		if recover() != nil {
			o = 1
		}
	}()
	// Errors in sub-IFDs (EXIF, GPS) still leave IFD0, which holds Orientation.
	x, _ := exif.Decode(bytes.NewReader(tiff))
	if x == nil {
		return 1
	}
	tag, err := x.Get(exif.Orientation)
	if err != nil {
		return 1
	}
	v, err := tag.Int(0)
	if err != nil || v < 1 || v > 8 {
		return 1
	}
	return v
}

// exifTIFF returns the TIFF structure inside the JPEG's first EXIF APP1
// segment, or nil. It walks the marker segments up to the scan itself
// (goexif scans for the first APP1 of any kind, and would miss EXIF after
// an XMP segment or find a false marker in the compressed data).
func exifTIFF(data []byte) []byte {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil
	}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return nil
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte before a marker
			i++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // standalone markers
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // start of scan or end of image: no more headers
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return nil
		}
		seg := data[i+4 : i+2+n]
		if m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// exifSafe reports whether goexif may parse the TIFF structure t. goexif
// multiplies a tag's value count by its type size in 32 bits, so a crafted
// count overflows to a small size and then allocates gigabytes, and it follows
// IFD chains that loop forever. Every IFD it would read (the IFD0 chain and
// the EXIF, GPS and interoperability sub-IFDs) is checked for both here.
func exifSafe(t []byte) bool {
	if len(t) < 8 {
		return false
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return false
	}
	// Bytes per value of each TIFF field type (1 BYTE ... 12 DOUBLE); goexif
	// rejects the others as zero-length.
	sizes := [...]uint64{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

	type dir struct {
		off   uint64
		chain bool // follow its next-IFD offset, as goexif does for IFD0
	}
	seen := map[uint64]bool{}
	todo := []dir{{uint64(bo.Uint32(t[4:])), true}}
	for len(todo) > 0 {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[d.off] {
			return false
		}
		seen[d.off] = true
		if d.off+2 > uint64(len(t)) {
			return false
		}
		n := uint64(bo.Uint16(t[d.off:]))
		end := d.off + 2 + 12*n
		if end+4 > uint64(len(t)) {
			return false
		}
		for e := d.off + 2; e < end; e += 12 {
			id, typ, count := bo.Uint16(t[e:]), bo.Uint16(t[e+2:]), bo.Uint32(t[e+4:])
			if int(typ) < len(sizes) && sizes[typ]*uint64(count) > uint64(len(t)) {
				return false
			}
			switch id {
			case 0x8769, 0x8825, 0xA005: // EXIF, GPS and interoperability IFD pointers
				switch {
				case typ == 4 && count == 1: // LONG
					todo = append(todo, dir{uint64(bo.Uint32(t[e+8:])), false})
				case typ == 3 && count == 1: // SHORT
					todo = append(todo, dir{uint64(bo.Uint16(t[e+8:])), false})
				default:
					return false
				}
			}
		}
		if next := uint64(bo.Uint32(t[end:])); d.chain && next != 0 {
			todo = append(todo, dir{next, true})
		}
	}
	return true
}

// orient returns img turned the way EXIF orientation o says it is meant to be
// seen (o outside 2-8 leaves it as it is).
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 { // the transposing orientations swap the sides
		dw, dh = h, w
	}

	// Source pixel (x, y) goes to (ax*x + bx*y + cx, ay*x + by*y + cy).
	var ax, bx, cx, ay, by, cy int
	switch o {
	case 2: // mirrored left to right
		ax, cx, by = -1, w-1, 1
	case 3: // turned 180°
		ax, cx, by, cy = -1, w-1, -1, h-1
	case 4: // mirrored top to bottom
		ax, by, cy = 1, -1, h-1
	case 5: // transposed
		bx, ay = 1, 1
	case 6: // needs turning 90° clockwise
		bx, cx, ay = -1, h-1, 1
	case 7: // transversed
		bx, cx, ay, cy = -1, h-1, -1, w-1
	case 8: // needs turning 90° counterclockwise
		bx, ay, cy = 1, -1, w-1
	}

	// Rows are converted one at a time into a small buffer rather than the
	// whole picture, so turning costs one extra image, not two.
	var (
		row, dst       draw.Image
		rowPix, dstPix []byte
		stride, bpp    int
	)
	if _, ok := img.(*image.Gray); ok {
		r, d := image.NewGray(image.Rect(0, 0, w, 1)), image.NewGray(image.Rect(0, 0, dw, dh))
		row, dst, rowPix, dstPix, stride, bpp = r, d, r.Pix, d.Pix, d.Stride, 1
	} else {
		r, d := image.NewRGBA(image.Rect(0, 0, w, 1)), image.NewRGBA(image.Rect(0, 0, dw, dh))
		row, dst, rowPix, dstPix, stride, bpp = r, d, r.Pix, d.Pix, d.Stride, 4
	}
	for y := 0; y < h; y++ {
		draw.Draw(row, row.Bounds(), img, image.Pt(b.Min.X, b.Min.Y+y), draw.Src)
		for x := 0; x < w; x++ {
			dx, dy := ax*x+bx*y+cx, ay*x+by*y+cy
			copy(dstPix[dy*stride+dx*bpp:][:bpp], rowPix[x*bpp:][:bpp])
		}
	}
	return dst
}
