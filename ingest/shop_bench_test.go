package ingest_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attrib-engine/attrib/ingest"
)

// BenchmarkWebhookShopify is BenchmarkWebhookSingle (lean client, no
// fsync) for a Shopify-shaped stream: each request is one orders/create
// delivery of a full Shopify order JSON (about 3 KB, most of it fields the
// engine skips), signed with base64 HMAC-SHA256 of the body, to POST
// /v1/webhooks/shopify/{brand_id}. One op is one request (one order).
// Run it back to back with BenchmarkWebhookSingle to compare the two
// formats on the same machine.
func BenchmarkWebhookShopify(b *testing.B) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	b.Run("fsync=false/client=lean", func(b *testing.B) {
		r := newShopRig(b, rigOptions{dataDir: b.TempDir(), poolSize: 256})
		addr := r.srv.Listener.Addr().String()
		path := "/v1/webhooks/shopify/" + r.brand
		run := time.Now().UnixNano() % 1e12
		var seq, refused atomic.Int64
		b.SetParallelism(96)
		b.SetBytes(int64(len(shopifyBenchBody(nil, run, 0))))
		b.ResetTimer()
		cpu0 := processCPU()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			rd, wr := bufio.NewReaderSize(conn, 4096), bufio.NewWriterSize(conn, 64<<10)
			var body []byte
			for pb.Next() {
				n := seq.Add(1)
				body = shopifyBenchBody(body[:0], run, n)
				wr.WriteString("POST " + path + " HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n")
				wr.WriteString("X-Shopify-Topic: orders/create\r\nX-Shopify-Shop-Domain: acme.myshopify.com\r\n")
				wr.WriteString("X-Shopify-Event-Id: " + strconv.FormatInt(run, 10) + "-" + strconv.FormatInt(n, 10) + "\r\n")
				wr.WriteString("X-Shopify-Hmac-Sha256: " + ingest.SignShop(shopSecret, body) + "\r\n")
				wr.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
				wr.Write(body)
				if err := wr.Flush(); err != nil {
					b.Error(err)
					return
				}
				status, err := readAnswer(rd)
				if err != nil {
					b.Error(err)
					return
				}
				if status != http.StatusOK && refused.Add(1) == 1 {
					b.Errorf("status %d", status)
				}
			}
		})
		elapsed := time.Since(start)
		cpu := processCPU() - cpu0
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
	})
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length and returns
// its status.
func readAnswer(rd *bufio.Reader) (int, error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := rd.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(h), ":"); ok && strings.EqualFold(k, "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if length < 0 {
		return 0, errors.New("answer without Content-Length")
	}
	_, err = rd.Discard(length)
	return status, err
}

// shopifyBenchBody appends a Shopify order of about 3 KB with a fresh id
// beyond 2^53.
func shopifyBenchBody(buf []byte, run, n int64) []byte {
	id := strconv.FormatInt(7_000_000_000_000_000+run%1_000_000*1_000_000_000+n, 10)
	buf = append(buf, `{"id":`...)
	buf = append(buf, id...)
	buf = append(buf, `,"admin_graphql_api_id":"gid://shopify/Order/`...)
	buf = append(buf, id...)
	return append(buf, `","app_id":580111,"browser_ip":"203.0.113.7","buyer_accepts_marketing":false,"cancel_reason":null,"cancelled_at":null,`+
		`"checkout_id":36141922500000,"checkout_token":"1e0a7b3f9c2d4e5f","confirmation_number":"KP9XA2BQZ","confirmed":true,`+
		`"contact_email":"buyer@example.com","created_at":"2026-11-24T13:05:17+03:00","currency":"RUB","current_subtotal_price":"2250.00",`+
		`"current_subtotal_price_set":{"shop_money":{"amount":"2250.00","currency_code":"RUB"},"presentment_money":{"amount":"12375.00","currency_code":"KZT"}},`+
		`"current_total_price":"2650.00","current_total_tax":"375.00","customer_locale":"ru","discount_codes":[{"code":"anna10","amount":"250.00","type":"fixed_amount"}],`+
		`"email":"buyer@example.com","estimated_taxes":false,"financial_status":"paid","fulfillment_status":null,"landing_site":"/","name":"#1042",`+
		`"note":null,"note_attributes":[],"number":42,"order_number":1042,"order_status_url":"https://acme.example/orders/1e0a7b3f9c2d4e5f/authenticate",`+
		`"payment_gateway_names":["manual"],"phone":null,"presentment_currency":"KZT","processed_at":"2026-11-24T13:05:16+03:00","source_name":"web",`+
		`"subtotal_price":"2250.00","subtotal_price_set":{"shop_money":{"amount":"2250.00","currency_code":"RUB"},"presentment_money":{"amount":"12375.00","currency_code":"KZT"}},`+
		`"tags":"","tax_lines":[{"price":"375.00","rate":0.2,"title":"VAT"}],"taxes_included":true,"test":false,"token":"5f4e3d2c1b0a",`+
		`"total_discounts":"250.00","total_line_items_price":"2500.00","total_outstanding":"0.00","total_price":"2650.00",`+
		`"total_price_set":{"shop_money":{"amount":"2650.00","currency_code":"RUB"},"presentment_money":{"amount":"14575.00","currency_code":"KZT"}},`+
		`"total_shipping_price_set":{"shop_money":{"amount":"400.00","currency_code":"RUB"},"presentment_money":{"amount":"2200.00","currency_code":"KZT"}},`+
		`"total_tax":"375.00","total_weight":300,"updated_at":"2026-11-24T13:07:02+03:00","user_id":null,`+
		`"billing_address":{"first_name":"Ivan","last_name":"Petrov","address1":"Tverskaya 1","city":"Moscow","zip":"101000","country":"Russia","country_code":"RU"},`+
		`"customer":{"id":115310627314723954,"email":"buyer@example.com","first_name":"Ivan","last_name":"Petrov","state":"enabled","verified_email":true},`+
		`"line_items":[{"id":13944012345678901,"fulfillable_quantity":1,"gift_card":false,"grams":300,"name":"Serum","price":"2500.00",`+
		`"price_set":{"shop_money":{"amount":"2500.00","currency_code":"RUB"},"presentment_money":{"amount":"13750.00","currency_code":"KZT"}},`+
		`"product_id":632910392,"quantity":1,"requires_shipping":true,"sku":"SER-1","taxable":true,"title":"Serum","total_discount":"0.00",`+
		`"discount_allocations":[{"amount":"250.00","discount_application_index":0}],"tax_lines":[{"price":"375.00","rate":0.2,"title":"VAT"}]}],`+
		`"shipping_address":{"first_name":"Ivan","last_name":"Petrov","address1":"Tverskaya 1","city":"Moscow","zip":"101000","country":"Russia","country_code":"RU"},`+
		`"shipping_lines":[{"id":271878346,"code":"courier","price":"400.00","source":"shopify","title":"Courier"}],"refunds":[]}`...)
}
