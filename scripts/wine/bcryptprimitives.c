/* A stand-in bcryptprimitives.dll for Wine 8, which lacks ProcessPrng: Rust's std (1.78+)
 * imports it for all its randomness and will not start without it. Test use only
 * (scripts/windows-e2e); Windows itself has the real DLL.
 *
 * ProcessPrng fills the buffer from the system RNG and, as documented, always succeeds; here it
 * is RtlGenRandom (SystemFunction036 in advapi32), which takes at most a ULONG at a time. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
