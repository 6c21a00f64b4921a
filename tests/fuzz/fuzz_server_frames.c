/* A server-role connection fed arbitrary peer bytes, once whole and once in
 * chunks drawn from the input; see fuzz_frames_main for the layout. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_frames_main(WSP_ROLE_SERVER, data, size);
}
