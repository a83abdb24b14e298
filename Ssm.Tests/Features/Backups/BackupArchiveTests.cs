using System.Security.Cryptography;
using Ssm.Infrastructure.Backups;

namespace Ssm.Tests.Features.Backups;

public sealed class BackupArchiveTests
{
    private const string Passphrase = "correct horse battery staple";

    private static async Task<byte[]> SealAsync(byte[] plain, string passphrase = Passphrase, bool complete = true)
    {
        var file = new MemoryStream();
        await using (var archive = await BackupArchive.CreateAsync(file, passphrase, CancellationToken.None))
        {
            await archive.WriteAsync(plain);
            if (complete)
                await archive.CompleteAsync(CancellationToken.None);
        }
        return file.ToArray();
    }

    private static async Task<byte[]> OpenAsync(byte[] sealedFile, string passphrase = Passphrase)
    {
        await using var archive = await BackupArchive.OpenAsync(new MemoryStream(sealedFile), passphrase, CancellationToken.None);
        var plain = new MemoryStream();
        await archive.CopyToAsync(plain);
        return plain.ToArray();
    }

    // Three and a half chunks: full chunks, a short last one, and the chunk boundaries in between.
    private static readonly byte[] Data = RandomNumberGenerator.GetBytes((1 << 20) * 3 + 12345);

    [Fact]
    public async Task What_is_sealed_opens_with_the_passphrase_and_holds_no_plain_text()
    {
        var file = await SealAsync(Data);
        (await OpenAsync(file)).ShouldBe(Data);
        file.AsSpan().IndexOf(Data.AsSpan(0, 64)).ShouldBe(-1);
        (await OpenAsync(await SealAsync([]))).ShouldBeEmpty();
        var exact = RandomNumberGenerator.GetBytes(1 << 20);
        (await OpenAsync(await SealAsync(exact))).ShouldBe(exact);
    }

    [Fact]
    public async Task A_wrong_passphrase_is_refused_by_name()
    {
        var file = await SealAsync(Data);
        var error = await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync(file, "wrong horse battery staple"));
        error.Message.ShouldContain("passphrase is wrong");
    }

    [Fact]
    public async Task A_changed_byte_anywhere_is_refused()
    {
        var file = await SealAsync(Data);
        foreach (var at in new[] { 20, file.Length / 3, file.Length / 2, file.Length - 5 })
        {
            var changed = (byte[])file.Clone();
            changed[at] ^= 0x40;
            await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync(changed));
        }
    }

    [Fact]
    public async Task A_file_cut_short_or_never_completed_is_refused()
    {
        var file = await SealAsync(Data);
        // Cut exactly after the first full chunk: every remaining chunk authenticates, but the last one is missing.
        var firstChunkEnd = file.Length - (Data.Length - (1 << 20)) - 3 * (4 + 16);
        (await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync(file[..firstChunkEnd]))).Message.ShouldContain("cut short");
        await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync(file[..(file.Length - 1)]));
        var unfinished = await SealAsync(Data, complete: false);
        (await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync(unfinished))).Message.ShouldContain("cut short");
        await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync([.. file, 0]));
    }

    [Fact]
    public async Task A_short_passphrase_or_a_file_that_is_no_backup_is_refused()
    {
        await Should.ThrowAsync<BackupArchiveException>(() => SealAsync(Data, "short"));
        (await Should.ThrowAsync<BackupArchiveException>(() => OpenAsync("PGDMP not ours"u8.ToArray()))).Message.ShouldContain("not an ssm backup");
    }
}
