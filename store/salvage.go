package store

import (
	"encoding/binary"
	"os"

	"github.com/tendhq/tend/events"
)

// bbolt's on-disk page layout, as far as salvage reads it: a 16-byte page
// header (id u64, flags u16, count u16, overflow u32) and, on a leaf page,
// count 16-byte elements (flags u32, pos u32, ksize u32, vsize u32) whose
// key and value lie pos bytes after the element.
const (
	pageHeaderLen  = 16
	leafElemLen    = 16
	leafPageFlag   = 0x02
	salvagePageMin = 4096
)

// salvage reads every record it can find in the raw bytes of a damaged
// log file, without bbolt: every leaf page holding an 8-byte key whose
// value passes its record checksum. It is how a truncated file, whose
// B-tree root lies past the cut, still gives up its records. Records are
// self-describing (seq, checksum, chain link), so a stale copy of a page
// can only repeat a record, never change one.
func salvage(path string) (map[events.Seq][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ps := os.Getpagesize()
	if ps < salvagePageMin {
		ps = salvagePageMin
	}
	found := make(map[events.Seq][]byte)
	for off := 0; off+pageHeaderLen <= len(data); off += ps {
		page := data[off:]
		flags := binary.LittleEndian.Uint16(page[8:10])
		count := int(binary.LittleEndian.Uint16(page[10:12]))
		if flags&leafPageFlag == 0 || count == 0 {
			continue
		}
		for i := 0; i < count; i++ {
			eo := pageHeaderLen + i*leafElemLen
			if eo+leafElemLen > len(page) {
				break
			}
			pos := int(binary.LittleEndian.Uint32(page[eo+4:]))
			ksize := int(binary.LittleEndian.Uint32(page[eo+8:]))
			vsize := int(binary.LittleEndian.Uint32(page[eo+12:]))
			ko := eo + pos
			if ksize != 8 || pos < 0 || ko < 0 || vsize <= 0 || ko+ksize+vsize > len(page) {
				continue
			}
			val := page[ko+ksize : ko+ksize+vsize]
			if events.Check(val) != nil {
				continue
			}
			seq := events.Seq(binary.BigEndian.Uint64(page[ko : ko+ksize]))
			if events.RecordSeq(val) != seq {
				continue
			}
			found[seq] = append([]byte(nil), val...)
		}
	}
	return found, nil
}
