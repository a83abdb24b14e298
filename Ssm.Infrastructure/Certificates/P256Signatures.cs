using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Ssm.Infrastructure.Certificates;

/// <summary>
/// Checks an ECDSA P-256 signature made by a key seen once (a product's CSR), through the libcrypto that .NET itself
/// loads on Linux. Importing the key through .NET (ECDsa.ImportParameters, PublicKey.GetECDsaPublicKey) costs OpenSSL 3
/// a curve made anew and EC_KEY_check_key's multiplication of the point by the group order: 140 µs, where the
/// signature check is 80 µs (measured on the benchmark machine). Here the curve is made once and the point only
/// decoded, which checks that it lies on the curve; P-256 has cofactor 1, so a point on it has the group's order and
/// the multiplication proves nothing more (decision 0044). Without that libcrypto, .NET's own import does the work.
/// </summary>
public static class P256Signatures
{
    private const string Library = "libcrypto.so.3";
    private const int NidP256 = 415; // NID_X9_62_prime256v1

    // Made once and only read afterwards (EC_KEY_set_group copies it), so every thread may share it.
    private static readonly Lazy<nint> Group = new(() =>
    {
        try
        {
            return OperatingSystem.IsLinux() ? NewGroup(NidP256) : 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    });

    /// <summary>Whether signatures are checked through libcrypto directly rather than .NET's key import.</summary>
    public static bool Direct => Group.Value != 0;

    /// <summary>Whether SIGNATURE (DER, RFC 3279) over DATA verifies with the uncompressed point POINT (0x04, X, Y).</summary>
    public static bool Verify(ReadOnlySpan<byte> point, ReadOnlySpan<byte> data, HashAlgorithmName hash, ReadOnlySpan<byte> signature)
    {
        Span<byte> digest = stackalloc byte[64];
        var length = CryptographicOperations.HashData(hash, data, digest);
        return Direct ? VerifyDirect(point, digest[..length], signature) : VerifyImported(point, digest[..length], signature);
    }

    private static bool VerifyDirect(ReadOnlySpan<byte> point, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> signature)
    {
        var key = NewKey();
        if (key == 0)
            throw new CryptographicException("libcrypto could not make an EC key.");
        try
        {
            // ECDSA_verify answers 1 for a good signature, 0 for a bad one and -1 for one it cannot read.
            var good = SetGroup(key, Group.Value) == 1
                       && KeyFromOctets(key, in MemoryMarshal.GetReference(point), (nuint)point.Length, 0) == 1
                       && EcdsaVerify(0, in MemoryMarshal.GetReference(digest), digest.Length, in MemoryMarshal.GetReference(signature),
                           signature.Length, key) == 1;
            if (!good)
                ClearErrors(); // what OpenSSL queued on this thread must not be read as the error of .NET's next call here
            return good;
        }
        finally
        {
            FreeKey(key);
        }
    }

    private static bool VerifyImported(ReadOnlySpan<byte> point, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> signature)
    {
        try
        {
            using var key = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = point[1..33].ToArray(), Y = point[33..].ToArray() },
            });
            return key.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false; // a point off the curve
        }
    }

    [DllImport(Library, EntryPoint = "EC_GROUP_new_by_curve_name")]
    private static extern nint NewGroup(int nid);

    [DllImport(Library, EntryPoint = "EC_KEY_new")]
    private static extern nint NewKey();

    [DllImport(Library, EntryPoint = "EC_KEY_free")]
    private static extern void FreeKey(nint key);

    [DllImport(Library, EntryPoint = "EC_KEY_set_group")]
    private static extern int SetGroup(nint key, nint group);

    [DllImport(Library, EntryPoint = "EC_KEY_oct2key")]
    private static extern int KeyFromOctets(nint key, in byte octets, nuint length, nint context);

    [DllImport(Library, EntryPoint = "ECDSA_verify")]
    private static extern int EcdsaVerify(int type, in byte digest, int digestLength, in byte signature, int signatureLength, nint key);

    [DllImport(Library, EntryPoint = "ERR_clear_error")]
    private static extern void ClearErrors();
}
