using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Ssm.Infrastructure.Backups;

/// <summary>The file is not a backup, was changed, was cut short, or the passphrase is wrong.</summary>
public sealed class BackupArchiveException(string message) : Exception(message);

/// <summary>
/// The encrypted backup file (decision 0028): a plain header naming the key derivation (PBKDF2-HMAC-SHA256 with a
/// random salt) and then chunks of AES-256-GCM. Each chunk's nonce carries its number and its tag covers the header,
/// the number and whether it is the last, so a changed, reordered, dropped or cut-off chunk fails to decrypt.
/// </summary>
public static class BackupArchive
{
    public const int MinPassphraseLength = 12;
    internal static readonly byte[] Magic = "SSMBACKUP1\n"u8.ToArray();
    internal const int ChunkSize = 1 << 20;
    internal const int TagSize = 16;
    // OWASP's 2023 figure for PBKDF2-HMAC-SHA256; stored in each file, so a later version can raise it.
    internal const int Iterations = 600_000;

    internal sealed record Header(string Kdf, int Iterations, string Salt, string Cipher, int Chunk, string NoncePrefix);

    /// <summary>A stream that encrypts what is written to <paramref name="file"/>; call CompleteAsync to seal it.</summary>
    public static async Task<BackupWriter> CreateAsync(Stream file, string passphrase, CancellationToken cancellationToken)
    {
        if (passphrase.Length < MinPassphraseLength)
            throw new BackupArchiveException($"The passphrase must be at least {MinPassphraseLength} characters.");
        var header = new Header("PBKDF2-HMAC-SHA256", Iterations, Convert.ToBase64String(RandomNumberGenerator.GetBytes(16)),
            "AES-256-GCM", ChunkSize, Convert.ToBase64String(RandomNumberGenerator.GetBytes(4)));
        var headerBytes = JsonSerializer.SerializeToUtf8Bytes(header);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, headerBytes.Length);
        await file.WriteAsync(Magic, cancellationToken);
        await file.WriteAsync(length, cancellationToken);
        await file.WriteAsync(headerBytes, cancellationToken);
        return new BackupWriter(file, Key(passphrase, header), header, Context(headerBytes));
    }

    /// <summary>A stream of the plain backup; throws <see cref="BackupArchiveException"/> on any damage or a wrong passphrase.</summary>
    public static async Task<BackupReader> OpenAsync(Stream file, string passphrase, CancellationToken cancellationToken)
    {
        var magic = new byte[Magic.Length];
        if (await file.ReadAtLeastAsync(magic, magic.Length, false, cancellationToken) < magic.Length || !magic.AsSpan().SequenceEqual(Magic))
            throw new BackupArchiveException("This file is not an ssm backup.");
        var length = new byte[4];
        await file.ReadExactlyAsync(length, cancellationToken);
        var size = BinaryPrimitives.ReadInt32BigEndian(length);
        if (size is <= 0 or > 4096)
            throw new BackupArchiveException("The backup's header is damaged.");
        var headerBytes = new byte[size];
        await file.ReadExactlyAsync(headerBytes, cancellationToken);
        Header header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(headerBytes) ?? throw new JsonException();
        }
        catch (JsonException)
        {
            throw new BackupArchiveException("The backup's header is damaged.");
        }
        if (header.Kdf != "PBKDF2-HMAC-SHA256" || header.Cipher != "AES-256-GCM" || header.Chunk is <= 0 or > 16 << 20
            || header.Iterations is < 100_000 or > 10_000_000)
            throw new BackupArchiveException($"Unknown backup format ({header.Kdf}, {header.Cipher}).");
        return new BackupReader(file, Key(passphrase, header), header, Context(headerBytes));
    }

    /// <summary>
    /// Writes a sealed backup to <paramref name="path"/>, which must not exist: into PATH.partial, readable by its owner only
    /// from its first byte (it holds the product CA's key, if encrypted), renamed only once sealed, deleted on failure.
    /// </summary>
    public static async Task<(T Result, long PlainBytes, long FileBytes)> WriteFileAsync<T>(string path, string passphrase,
        Func<Stream, CancellationToken, Task<T>> write, CancellationToken cancellationToken)
    {
        if (File.Exists(path))
            throw new IOException($"{path} exists already; a backup never overwrites a file.");
        var partial = path + ".partial";
        try
        {
            T result;
            long plain, written;
            await using (var file = CreatePrivate(partial))
            await using (var archive = await CreateAsync(file, passphrase, cancellationToken))
            {
                result = await write(archive, cancellationToken);
                await archive.CompleteAsync(cancellationToken);
                (plain, written) = (archive.PlainBytes, file.Length);
            }
            File.Move(partial, path);
            return (result, plain, written);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    private static FileStream CreatePrivate(string path) => OperatingSystem.IsWindows()
        ? new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true)
        : new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous, BufferSize = 1 << 16,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });

    private static byte[] Key(string passphrase, Header header) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(passphrase), Convert.FromBase64String(header.Salt), header.Iterations,
            HashAlgorithmName.SHA256, 32);

    private static byte[] Context(byte[] headerBytes) => SHA256.HashData([.. Magic, .. headerBytes]);

    internal static byte[] Nonce(Header header, long chunk)
    {
        var nonce = new byte[12];
        Convert.FromBase64String(header.NoncePrefix).CopyTo(nonce, 0);
        BinaryPrimitives.WriteInt64BigEndian(nonce.AsSpan(4), chunk);
        return nonce;
    }

    internal static byte[] AssociatedData(byte[] context, long chunk, bool last)
    {
        var data = new byte[context.Length + 9];
        context.CopyTo(data, 0);
        BinaryPrimitives.WriteInt64BigEndian(data.AsSpan(context.Length), chunk);
        data[^1] = last ? (byte)1 : (byte)0;
        return data;
    }
}

/// <summary>Write-only: buffers a chunk, encrypts it when full. Without CompleteAsync the file has no last chunk and never restores.</summary>
public sealed class BackupWriter : Stream
{
    private readonly Stream _file;
    private readonly AesGcm _aes;
    private readonly BackupArchive.Header _header;
    private readonly byte[] _context;
    private readonly byte[] _buffer;
    private int _filled;
    private long _chunk;
    private bool _completed;

    internal BackupWriter(Stream file, byte[] key, BackupArchive.Header header, byte[] context)
    {
        _file = file;
        _aes = new AesGcm(key, BackupArchive.TagSize);
        _header = header;
        _context = context;
        _buffer = new byte[header.Chunk];
    }

    public long PlainBytes { get; private set; }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        while (!data.IsEmpty)
        {
            var take = Math.Min(data.Length, _buffer.Length - _filled);
            data[..take].CopyTo(_buffer.AsMemory(_filled));
            _filled += take;
            PlainBytes += take;
            data = data[take..];
            if (_filled == _buffer.Length)
                await SealAsync(last: false, cancellationToken);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Asynchronous writes only.");

    /// <summary>Encrypts what is buffered as the last chunk and flushes the file.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await SealAsync(last: true, cancellationToken);
        _completed = true;
        await _file.FlushAsync(cancellationToken);
    }

    private async Task SealAsync(bool last, CancellationToken cancellationToken)
    {
        var record = new byte[4 + _filled + BackupArchive.TagSize];
        BinaryPrimitives.WriteInt32BigEndian(record, _filled);
        _aes.Encrypt(BackupArchive.Nonce(_header, _chunk), _buffer.AsSpan(0, _filled), record.AsSpan(4, _filled),
            record.AsSpan(4 + _filled), BackupArchive.AssociatedData(_context, _chunk, last));
        await _file.WriteAsync(record, cancellationToken);
        _chunk++;
        _filled = 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _aes.Dispose();
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_completed;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => PlainBytes; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>Read-only: decrypts chunk by chunk; a chunk that does not authenticate, or an end without the last chunk, throws.</summary>
public sealed class BackupReader : Stream
{
    private readonly Stream _file;
    private readonly AesGcm _aes;
    private readonly BackupArchive.Header _header;
    private readonly byte[] _context;
    private byte[] _plain = [];
    private int _offset;
    private long _chunk;
    private bool _sawLast;

    internal BackupReader(Stream file, byte[] key, BackupArchive.Header header, byte[] context)
    {
        _file = file;
        _aes = new AesGcm(key, BackupArchive.TagSize);
        _header = header;
        _context = context;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        while (_offset == _plain.Length)
        {
            if (_sawLast)
                return 0;
            await NextChunkAsync(cancellationToken);
        }
        var take = Math.Min(destination.Length, _plain.Length - _offset);
        _plain.AsMemory(_offset, take).CopyTo(destination);
        _offset += take;
        return take;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Asynchronous reads only.");

    private async Task NextChunkAsync(CancellationToken cancellationToken)
    {
        var length = new byte[4];
        if (await _file.ReadAtLeastAsync(length, 4, false, cancellationToken) < 4)
            throw new BackupArchiveException("The backup is cut short: its last part is missing.");
        var size = BinaryPrimitives.ReadInt32BigEndian(length);
        if (size < 0 || size > _header.Chunk)
            throw new BackupArchiveException("The backup is damaged.");
        var record = new byte[size + BackupArchive.TagSize];
        if (await _file.ReadAtLeastAsync(record, record.Length, false, cancellationToken) < record.Length)
            throw new BackupArchiveException("The backup is cut short: its last part is missing.");
        var plain = new byte[size];
        var nonce = BackupArchive.Nonce(_header, _chunk);
        var cipher = record.AsSpan(0, size);
        var tag = record.AsSpan(size);
        // Only the last chunk may be shorter than a full one; whether a chunk is the last is covered by its tag.
        var last = size < _header.Chunk;
        if (!TryDecrypt(nonce, cipher, tag, plain, last) && (last || !TryDecrypt(nonce, cipher, tag, plain, last = true)))
            throw new BackupArchiveException(_chunk == 0
                ? "The passphrase is wrong, or the backup was changed."
                : "The backup was changed or damaged (a part does not authenticate).");
        if (last && await _file.ReadAtLeastAsync(new byte[1], 1, false, cancellationToken) > 0)
            throw new BackupArchiveException("The backup has data after its last part.");
        _sawLast = last;
        _plain = plain;
        _offset = 0;
        _chunk++;
    }

    private bool TryDecrypt(byte[] nonce, ReadOnlySpan<byte> cipher, ReadOnlySpan<byte> tag, byte[] plain, bool last)
    {
        try
        {
            _aes.Decrypt(nonce, cipher, tag, plain, BackupArchive.AssociatedData(_context, _chunk, last));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _aes.Dispose();
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
