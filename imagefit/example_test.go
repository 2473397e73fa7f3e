package imagefit_test

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"github.com/livecord/livecord/imagefit"
)

func ExamplePrepare() {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1200, 600)))

	img, err := imagefit.Prepare(buf.Bytes(), imagefit.Options{})
	if err != nil {
		fmt.Println(err.(*imagefit.Error).UserMessage())
		return
	}
	fmt.Println(img.Source, img.SourceWidth, img.SourceHeight, "→", img.MIMEType, img.Width, img.Height)

	_, err = imagefit.Prepare([]byte("GIF89a\xff\xff\xff\xff\x00\x00\x00;"), imagefit.Options{})
	fmt.Println(err.(*imagefit.Error).UserMessage())
	// Output:
	// PNG 1200 600 → image/jpeg 1024 512
	// I can read JPEG, PNG, WebP and GIF images up to 10 MB and 40 megapixels; this one is 65535×65535 (4294.8 megapixels).
}
